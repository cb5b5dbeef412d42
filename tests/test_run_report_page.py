"""The run report (results/<run>/report/index.html) as a person sees it, in a real browser (headless
Chromium): a small run whose teacher answers through the local OpenAI-compatible server with faults on,
so that every iteration has a plan, bad cases beside the samples made for them, rejections and training.
And `dataengine compare` of that run with a variant of it started from its iteration 0 (base_run), one
knob changed: the comparison page as a person sees it."""

import json
import re
from collections import Counter

import pytest
import yaml

from dataengine.cli import main
from dataengine.core.qtypes import SEED_TABLE
from tests.browser import chromium  # noqa: F401 (a fixture)
from tests.conftest import CONFIGS, snakemake
from tools.fake_openai import FakeOpenAI, FakeSettings

CONTENT_FAULTS = ("malformed", "schema_invalid", "wrong_answer", "truncated")


@pytest.fixture(scope="module")
def teacher_server():
    """The local teacher, faulty one time in five; one for the module, so that a run started from
    another's iteration 0 asks the same endpoint (its seed set's teacher must be the same)."""
    with FakeOpenAI(FakeSettings(fault_rate=0.2, faults=CONTENT_FAULTS, seed=0)) as server:
        yield server


def _run_with_teacher(workdir, server, **config):
    """Run the small loop with the openai teacher of `server`, `config` over it; the run's folder."""
    overlay = workdir / f"{config['run']}.yaml"
    teacher = {"base_url": server.base_url, "content_retries": 0}
    overlay.write_text(yaml.safe_dump({**config, "teacher": teacher}))
    result = snakemake(workdir, "--cores", "2", configfiles=[CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay])
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir / "results" / config["run"]


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory, teacher_server):
    """The small loop (two iterations) with a teacher whose replies are faulty one time in five and
    never asked again (content_retries 0), so validation rejects some of them with their reasons."""
    return _run_with_teacher(tmp_path_factory.mktemp("faulty"), teacher_server, run="faulty")


@pytest.fixture(scope="module")
def uniform_run(faulty_run, teacher_server):
    """The same loop with one knob changed, sampling.strategy uniform, started from faulty_run's
    benchmark, pool and iteration 0 (base_run): only its iterations 1 and 2 run."""
    workdir = faulty_run.parent.parent
    return _run_with_teacher(
        workdir, teacher_server, run="faulty-uniform", base_run="faulty", sampling={"strategy": "uniform"}
    )


@pytest.mark.slow
def test_the_run_report_shows_each_iteration_from_plan_to_evaluation(faulty_run, chromium):  # noqa: F811 (the fixture)
    chromium.get((faulty_run / "report" / "index.html").as_uri())
    summary = json.loads((faulty_run / "report" / "summary.json").read_text())
    assert "faulty" in chromium.title
    find = chromium.find_elements
    sections = find("css selector", "section.iteration")
    assert [s.get_attribute("id") for s in sections] == ["iteration-0", "iteration-1", "iteration-2"]
    for number, section in enumerate(sections[1:], start=1):
        plan = json.loads((faulty_run / f"iter_{number}" / "plan" / "quotas.json").read_text())
        rows = section.find_elements("css selector", "table.plan tr")[1:]
        shown = {row.find_elements("tag name", "td")[0].text: row.find_elements("tag name", "td") for row in rows}
        # type, dev accuracy, error rate, gain per 1,000, learnability, weight, share, quota, accepted
        assert {name: int(cells[7].text) for name, cells in shown.items()} == summary["iterations"][number - 1][
            "quotas"
        ]
        assert sum(float(cells[6].text) for cells in shown.values()) == pytest.approx(1.0, abs=0.02)  # shares
        assert plan["budget"] == sum(int(cells[7].text) for cells in shown.values())
        accepted = [json.loads(line) for line in (faulty_run / f"iter_{number}" / "data" / "accepted.jsonl").open()]
        assert {name: int(cells[8].text) for name, cells in shown.items() if int(cells[8].text)} == dict(
            Counter(SEED_TABLE.name(sample["qtype"]) for sample in accepted)
        )

        story = section.find_elements("css selector", ".story")[0]
        bad_case, sample = (
            story.find_element("css selector", ".bad-case"),
            story.find_element("css selector", ".sample"),
        )
        assert bad_case.find_element("tag name", "img").size["width"] > 0  # the bad case's image, drawn
        assert sample.find_element("tag name", "img").size["width"] > 0
        assert "image" in sample.find_element("css selector", ".tag").text  # its anchor: similar or random

        rejected = [json.loads(line) for line in (faulty_run / f"iter_{number}" / "data" / "rejected.jsonl").open()]
        queries = {
            query["query_id"]: query["qtype"]
            for query in map(json.loads, (faulty_run / f"iter_{number}" / "plan" / "queries.jsonl").open())
        }
        assert rejected  # one in five replies is faulty and never asked again
        table = section.find_element("css selector", "table.rejections")
        head = [cell.text for cell in table.find_elements("tag name", "th")][2:-1]  # reason, meaning ... all
        shown_counts = Counter()
        for row in table.find_elements("tag name", "tr")[1:]:
            cells = [cell.text for cell in row.find_elements("tag name", "td")]
            shown_counts.update({(cells[0], name): int(n) for name, n in zip(head, cells[2:-1]) if n})
        assert shown_counts == Counter((r["reason"], SEED_TABLE.name(queries[r["query_id"]])) for r in rejected)
        banner = section.find_element("css selector", ".banner")  # the server's faults, said to be injected
        assert banner.text.startswith("Injected faults.") and "in 20% of the attempts" in banner.text
        examples = {
            card.find_element("css selector", ".reason").get_attribute("textContent"): card
            for card in section.find_elements("css selector", "table.rejections + details .card")
        }
        for reason, card in examples.items():  # the first rejection of each reason, with what was wrong
            first = next(r for r in rejected if r["reason"] == reason)
            if first["detail"] is not None:
                assert first["detail"] in card.find_element("css selector", ".detail").get_attribute("textContent")
        assert any(r["detail"] for r in rejected)

        loss = section.find_element("css selector", "svg.loss")
        assert loss.size["width"] > 100 and loss.find_element("tag name", "polyline").get_attribute("points")
        ticks = [float(tick.text) for tick in loss.find_elements("css selector", "text.tick")]
        assert len(ticks) >= 4  # steps and losses at their ends, drawn as text
        assert section.find_elements("css selector", "table.evaluation tr")
    teacher = chromium.find_element("css selector", "table.teacher").text
    assert "fake-teacher" in teacher
    chart = chromium.find_element("css selector", "img.accuracy")
    assert chart.size["width"] > 300  # accuracy.png, inlined
    panels = chromium.find_element("css selector", "img.types")  # types.png, a panel per type, under it
    assert panels.size["width"] > 300 and panels.location["y"] > chart.location["y"]
    png = chromium.get_screenshot_as_png()
    assert len(png) > 10_000  # the page drew (a blank page's screenshot is a few kB)


@pytest.mark.slow
def test_compare_names_the_one_knob_and_plots_each_type(faulty_run, uniform_run, chromium, tmp_path, capsys):  # noqa: F811 (the fixture)
    page = tmp_path / "compare.html"
    main(["compare", str(faulty_run), str(uniform_run), "--out", str(page)])
    printed = capsys.readouterr().out
    assert "Config: 1 knob differs (A -> B)" in printed
    assert re.search(r"^  sampling\.strategy +gain +-> +uniform$", printed, re.MULTILINE)

    chromium.get(page.as_uri())
    assert "faulty-uniform" in chromium.title
    find = chromium.find_elements
    rows = [
        [cell.text for cell in row.find_elements("tag name", "td")]
        for row in find("css selector", "table.config-diff tr")
    ]
    assert rows[1:] == [["sampling.strategy", "gain", "uniform"]]  # the knob, and only it
    qtypes = yaml.safe_load((faulty_run / "config.yaml").read_text())["qtypes"]
    names = [SEED_TABLE.name(qtype) for qtype in qtypes]
    figure = chromium.find_element("css selector", "img.types")
    assert figure.size["width"] > 300  # the small multiples, inlined and drawn
    assert figure.get_attribute("alt").endswith(f"one panel each: {', '.join(names)}")
    caption = chromium.find_element("css selector", "figcaption.panels").text
    assert caption.startswith(f"One panel per type: {', '.join(names)}.")

    # The last iterations side by side, each change paired on all the test items (the benchmark is shared).
    metrics = json.loads((faulty_run / "iter_2" / "eval" / "metrics.json").read_text())["splits"]["test"]
    final = {
        cells[0].text: cells[3].text
        for row in find("css selector", "table.final tr")[2:]
        for cells in [row.find_elements("tag name", "td")]
    }
    assert list(final) == [*names, "overall"]
    for qtype, name in zip(qtypes, names):
        assert re.fullmatch(
            rf"[+-]\d+\.\d points \(n {metrics['per_type'][str(qtype)]['n']}, p [\d.e-]+\)", final[name]
        )
    assert f"(n {metrics['overall']['n']}, p " in final["overall"]

    accepted = Counter(
        SEED_TABLE.name(json.loads(line)["qtype"])
        for line in (uniform_run / "iter_1" / "data" / "accepted.jsonl").open()
    )
    samples = {
        cells[0].text: int(cells[4].text)  # type, then A and B of iterations 0, 1, 2
        for row in find("css selector", "table.samples tr")[2:]
        for cells in [row.find_elements("tag name", "td")]
    }
    assert {name: n for name, n in samples.items() if n} == dict(accepted)
    costs = [row.find_elements("tag name", "td")[0].text for row in find("css selector", "table.cost tr")[1:]]
    assert costs == ["0", "1", "2", "all"]

"""The run report (results/<run>/report/index.html) as a person sees it, in a real browser (headless
Chromium): a small run whose teacher answers through the local OpenAI-compatible server with faults on,
so that every iteration has a plan, bad cases beside the samples made for them, rejections and training."""

import json
from collections import Counter

import pytest
import yaml

from dataengine.core.qtypes import SEED_TABLE
from tests.browser import chromium  # noqa: F401 (a fixture)
from tests.conftest import CONFIGS, snakemake
from tools.fake_openai import FakeOpenAI, FakeSettings

CONTENT_FAULTS = ("malformed", "schema_invalid", "wrong_answer", "truncated")


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """The small loop (two iterations) with a teacher whose replies are faulty one time in five and
    never asked again (content_retries 0), so validation rejects some of them with their reasons."""
    workdir = tmp_path_factory.mktemp("faulty")
    settings = FakeSettings(fault_rate=0.2, faults=CONTENT_FAULTS, seed=0)
    with FakeOpenAI(settings) as server:
        overlay = workdir / "server.yaml"
        overlay.write_text(
            yaml.safe_dump({"run": "faulty", "teacher": {"base_url": server.base_url, "content_retries": 0}})
        )
        result = snakemake(
            workdir, "--cores", "2", configfiles=[CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay]
        )
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir / "results" / "faulty"


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

        loss = section.find_element("css selector", "svg.loss")
        assert loss.size["width"] > 100 and loss.find_element("tag name", "polyline").get_attribute("points")
        assert section.find_elements("css selector", "table.evaluation tr")
    teacher = chromium.find_element("css selector", "table.teacher").text
    assert "fake-teacher" in teacher
    chart = chromium.find_element("css selector", "img.accuracy")
    assert chart.size["width"] > 300  # accuracy.png, inlined
    png = chromium.get_screenshot_as_png()
    assert len(png) > 10_000  # the page drew (a blank page's screenshot is a few kB)

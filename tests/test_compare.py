"""`dataengine compare` on hand-made runs (dataengine/report/compare.py): the config difference, and the
accuracy per type paired on the items both runs scored, types matched by name. The page in a browser,
on two real runs, is tests/test_run_report_page.py's."""

import copy
import json

import polars as pl
import pytest
import yaml

from dataengine.cli import main
from dataengine.core.config import resolve
from dataengine.report.compare import UNSET, compare, config_difference, render_text, write_page
from dataengine.report.paired import mcnemar_p


def test_the_config_difference_is_the_knobs_that_decide_results():
    a = resolve()
    b = copy.deepcopy(a)
    b |= {"run": "b", "base_run": a["run"], "threads": a["threads"] + 3}  # a name, where it started, runtime
    b["teacher"] |= {"in_flight": 1, "timeout_s": 5}  # how calls are made, not their replies
    b["train"]["report_to"] = "tensorboard"
    b["sampling"]["strategy"] = "uniform"
    b["per_iteration"] = {"2": {"sampling": {"budget": 30}, "teacher": {"in_flight": 2}}}
    assert a["sampling"]["strategy"] != "uniform"
    assert config_difference(a, b) == [
        ("per_iteration.2.sampling.budget", UNSET, 30),
        ("sampling.strategy", a["sampling"]["strategy"], "uniform"),
    ]
    assert config_difference(a, copy.deepcopy(a)) == []


def _write_run(folder, qtypes, items, verdicts, samples, usd, timings=()):
    """A finished run of a benchmark read with its own categories (`qtypes`, ids from 1): `items`
    {id: (type name, answer)}, `verdicts` per iteration {id: correct}, `samples` per iteration
    {type name: accepted count}, `usd` per iteration (None: no data), `timings` {job: seconds}."""
    ids = {name: k for k, name in enumerate(qtypes, start=1)}
    config = {"run": folder.name, "base_run": None, "iterations": len(verdicts) - 1, "qtypes": qtypes}
    config |= {"benchmark": {"kind": "generic"}, "sampling": {"strategy": "gain"}}
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    for i, verdict in enumerate(verdicts):
        rows = [
            {"id": item, "qtype": ids[items[item][0]], "split": "test", "answer": items[item][1], "correct": right}
            for item, right in verdict.items()
        ]
        (folder / f"iter_{i}" / "eval").mkdir(parents=True)
        pl.DataFrame(rows).write_parquet(folder / f"iter_{i}" / "eval" / "predictions.parquet")

        def entry(block):
            acc = 100 * sum(r["correct"] for r in block) / len(block)
            return {"acc": acc, "n": len(block), "ci_low": max(acc - 5, 0), "ci_high": min(acc + 5, 100)}

        per_type = {str(k): entry([r for r in rows if r["qtype"] == k]) for k in ids.values()}
        metrics = {"splits": {"test": {"overall": entry(rows), "per_type": per_type}}}
        (folder / f"iter_{i}" / "eval" / "metrics.json").write_text(json.dumps(metrics))
        if usd[i] is not None:
            data = folder / f"iter_{i}" / "data"
            data.mkdir()
            (data / "generation.json").write_text(json.dumps({"teacher": "openai", "cost_usd": usd[i]}))
            accepted = [{"qtype": ids[name]} for name, n in samples[i].items() for _ in range(n)]
            (data / "accepted.jsonl").write_text("".join(json.dumps(s) + "\n" for s in accepted))
    (folder / "benchmarks").mkdir()
    for job, seconds in dict(timings).items():
        (folder / "benchmarks" / f"{job}.tsv").write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:00\t100\n")


@pytest.fixture
def two_runs(tmp_path):
    """Run a has types cats, dogs, fish; run b dogs, fish, birds (numbered otherwise: dogs is 2 in a, 1
    in b). Iteration 0 scores alike; at iteration 1 b gets seven more dogs right, and on fish two items
    fell and two rose, while f9 has another answer in b's benchmark: not the same item, left out."""
    items_a = {f"c{k}": ("cats", "A") for k in range(5)} | {f"d{k}": ("dogs", "B") for k in range(10)}
    items_a |= {f"f{k}": ("fish", "C") for k in range(10)}
    items_b = {key: value for key, value in items_a.items() if not key.startswith("c")}
    items_b |= {f"b{k}": ("birds", "D") for k in range(5)} | {"f9": ("fish", "A")}
    base = {item: item.endswith(("0", "1")) for item in {**items_a, **items_b}}
    a_1 = {item: item in {"d0", "d1", *(f"f{k}" for k in range(6))} for item in items_a}
    b_1 = {item: item in {*(f"d{k}" for k in range(9)), *(f"f{k}" for k in range(2, 8)), "f9"} for item in items_b}
    runs = tmp_path / "results"
    _write_run(
        runs / "a",
        ["cats", "dogs", "fish"],
        items_a,
        [{i: base[i] for i in items_a}, a_1],
        [{}, {"dogs": 3, "fish": 1}],
        [None, 0.5],
        {"evaluate_0": 1800, "train_1": 3600, "plan_1": 360, "benchmark": 99},
    )
    _write_run(
        runs / "b",
        ["dogs", "fish", "birds"],
        items_b,
        [{i: base[i] for i in items_b}, b_1],
        [{}, {"dogs": 2, "birds": 2}],
        [None, 0.25],
    )
    return runs / "a", runs / "b"


def test_two_runs_are_paired_on_the_items_both_scored_by_type_name(two_runs):
    comparison = compare(*two_runs)
    assert comparison.types == ["dogs", "fish"]
    assert comparison.only == (["cats"], ["birds"])
    assert comparison.config == [("qtypes", ["cats", "dogs", "fish"], ["dogs", "fish", "birds"])]
    same = {"points": 0.0, "p": 1.0}
    assert comparison.paired[0] == {
        "overall": {**same, "n": 19},
        "per_type": {"dogs": {**same, "n": 10}, "fish": {**same, "n": 9}},
    }
    assert (
        comparison.final
        == comparison.paired[1]
        == {
            "overall": {"points": round(100 * 7 / 19, 2), "n": 19, "p": round(mcnemar_p(2, 9), 4)},
            "per_type": {"dogs": {"points": 70.0, "n": 10, "p": 0.0156}, "fish": {"points": 0.0, "n": 9, "p": 1.0}},
        }
    )
    a, b = comparison.a, comparison.b
    assert [a.samples, b.samples] == [[{}, {"dogs": 3, "fish": 1}], [{}, {"dogs": 2, "birds": 2}]]
    assert [a.teacher_usd, b.teacher_usd] == [[None, 0.5], [None, 0.25]]
    assert a.hours == [{"torch": 0.5, "other": 0.0}, {"torch": 1.0, "other": 0.1}]  # the benchmark is no iteration's
    assert b.hours == [None, None]

    text = render_text(comparison)
    assert "Config: 1 knob differs (A -> B)" in text and "Only in a: cats" in text and "Only in b: birds" in text
    dogs = next(line for line in text.splitlines() if line.startswith("dogs"))
    assert dogs.split()[1] == "20.0" and dogs.split()[4] == "90.0" and "+70.0 points (n 10, p 0.016)" in dogs


def test_the_page_plots_the_shared_types_and_the_command_prints_the_table(two_runs, tmp_path, capsys, monkeypatch):
    page = tmp_path / "compare.html"
    write_page(compare(*two_runs), page)
    text = page.read_text()
    assert 'alt="Test accuracy and samples received per type, one panel each: dogs, fish"' in text
    assert "data:image/png;base64," in text and "<script" not in text

    monkeypatch.chdir(two_runs[0].parent.parent)
    main(["compare", "a", "b"])  # names under results/
    out = capsys.readouterr().out
    assert "+70.0 points (n 10, p 0.016)" in out and "results/compare-a-vs-b.html" in out
    assert (two_runs[0].parent / "compare-a-vs-b.html").is_file()
    with pytest.raises(SystemExit) as stop:
        main(["compare", "a", "missing"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "dataengine compare: no run at results/missing (results/missing/config.yaml is written when the workflow starts)"
    ]

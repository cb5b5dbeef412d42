"""The benchmark's own report beside the qtype view: MMBench's category and l2-category kept from the
TSV through items.parquet and the predictions into metrics.json, summary.json and summary.md, plain
and circular; circular questions without their base copy."""

import base64
import logging

import polars as pl
import pytest

from dataengine.core.qtypes import SEED_TABLE
from dataengine.data.benchmarks import build_real_benchmark
from dataengine.eval.evaluate import metrics, score_items
from dataengine.report.summary import summarize, write_summary_md
from tests.real_fixtures import mmbench_rows, png, seed_types, write_mmbench
from tests.tiny import tiny_student

COARSE = "coarse_perception"
SCENE_AND_STYLE = {"image_scene": 1, "image_style": 1}  # two MMBench categories pooled into one qtype


def scene_and_style_rows() -> list[dict]:
    """image_scene: one question; image_style: two; each in two circular rotations, all coarse_perception."""
    rows = []
    for base, category in ((0, "image_scene"), (1, "image_style"), (2, "image_style")):
        for turn in range(2):
            options = ["a", "b", "c", "d"][turn:] + ["a", "b", "c", "d"][:turn]
            rows.append(
                {
                    "index": base + turn * 1_000_000,
                    "question": f"Which style? {base}",
                    "hint": "nan",
                    "A": options[0],
                    "B": options[1],
                    "C": options[2],
                    "D": options[3],
                    "answer": "ABCD"[options.index("a")],
                    "category": category,
                    "l2-category": COARSE,
                    "image": base64.b64encode(png(["red", "green", "blue"][base])).decode(),
                }
            )
    return rows


@pytest.fixture
def scene_and_style(tmp_path):
    cfg = write_mmbench(tmp_path, scene_and_style_rows()) | {"qtype_map": SCENE_AND_STYLE, "dev_share": 0.0}
    return build_real_benchmark("mmbench", tmp_path / "bench", cfg, seed_types(1), seed=0)


@pytest.mark.parametrize("l2_header", ["l2-category", "L2-category"])  # MMBench's TSV; the Hugging Face copies
def test_mmbench_categories_are_kept_in_the_items(tmp_path, l2_header):
    cfg = write_mmbench(tmp_path) | {"dev_share": 0.5}
    path = tmp_path / "MMBench_DEV_EN.tsv"
    header, rest = path.read_text().split("\n", 1)
    path.write_text(header.replace("l2-category", l2_header) + "\n" + rest)
    items = build_real_benchmark("mmbench", tmp_path / "bench", cfg, seed_types(3, 4), seed=0)
    assert items["category"].to_list() == ["object_localization"] * 2 + ["attribute_recognition"] * 3
    assert set(items["l2_category"]) == {"finegrained_perception (instance-level)"}
    assert pl.read_parquet(tmp_path / "bench" / "items.parquet")["category"].equals(items["category"])


def test_pooled_categories_are_reported_as_the_benchmark_defines_them(scene_and_style):
    """The issue's case: image_scene 1/1 and image_style 1/2 questions right pool into one qtype at
    66.7 %, where MMBench reports 100 and 50."""
    answers = scene_and_style["answer"].to_list()
    wrong = {"mmb-2", "mmb-1000002"}  # both rotations of the second image_style question
    predictions = scene_and_style.select("id", "qtype", "split", "answer", "group", "category", "l2_category")
    predictions = predictions.with_columns(
        prediction=pl.Series(
            [("B" if a == "A" else "A") if i in wrong else a for i, a in zip(scene_and_style["id"], answers)]
        ),
        scores=pl.lit([0.0]),
    ).with_columns(correct=pl.col("prediction") == pl.col("answer"))
    test = metrics(predictions, "letter")["splits"]["test"]
    assert test["per_type"]["1"]["acc"] == pytest.approx(66.667)
    assert {name: entry["acc"] for name, entry in test["per_category"].items()} == {
        "image_scene": 100.0,
        "image_style": 50.0,
    }
    assert test["per_category"]["image_style"]["n"] == 4 and test["per_l2_category"][COARSE]["acc"] == pytest.approx(
        66.667
    )
    circular = test["circular"]
    assert circular["per_category"]["image_style"] == {
        "acc": 50.0,
        "n": 2,
        "ci_low": pytest.approx(9.45, abs=0.01),
        "ci_high": pytest.approx(90.55, abs=0.01),
    }
    assert circular["per_l2_category"][COARSE]["n"] == 3
    # a single rotation wrong makes its question wrong circularly, not plainly
    one_wrong = predictions.with_columns(correct=pl.col("correct") & (pl.col("id") != "mmb-1000000"))
    test = metrics(one_wrong, "letter")["splits"]["test"]
    assert (
        test["per_category"]["image_scene"]["acc"] == 50.0
        and test["circular"]["per_category"]["image_scene"]["acc"] == 0.0
    )
    assert "per_category" not in metrics(predictions.drop("category", "l2_category"), "letter")["splits"]["test"]


def test_an_mmbench_run_reports_per_category_in_summary_json_and_md(scene_and_style, tmp_path):
    """Loader -> the tiny student's letter scores (iteration 0) -> metrics -> summary.json and the table
    in summary.md; iteration 1 is the same items with one rotation wrong."""
    model, processor = tiny_student()
    predictions = score_items(model, processor, scene_and_style, tmp_path / "bench", "letter", batch_size=4)
    assert predictions["category"].to_list() == scene_and_style["category"].to_list()
    assert predictions["l2_category"].to_list() == [COARSE] * 6
    later = predictions.with_columns(correct=pl.col("id") != "mmb-2")  # image_style: 3 of 4 items, 1 of 2 questions
    per_iteration = [metrics(predictions, "letter"), metrics(later, "letter")]
    summary = summarize("mmb", "0" * 12, per_iteration, [{"quotas": {"1": 2}}, None], [0, 2], SEED_TABLE)
    first, test = summary["iterations"][0], per_iteration[0]["splits"]["test"]
    assert first["per_category"] == {name: e["acc"] for name, e in test["per_category"].items()}
    assert first["circular"]["per_l2_category"] == {COARSE: test["circular"]["per_l2_category"][COARSE]["acc"]}
    assert summary["iterations"][1]["per_category"] == {"image_scene": 100.0, "image_style": 75.0}
    assert summary["iterations"][1]["circular"]["per_category"] == {"image_scene": 100.0, "image_style": 50.0}
    assert set(first) >= {
        "iteration",
        "overall",
        "per_type",
        "n_eval",
        "samples_added",
        "quotas",
    }  # the contract's keys
    write_summary_md(summary, per_iteration, tmp_path / "summary.md", SEED_TABLE)
    text = (tmp_path / "summary.md").read_text()
    assert "## Per category" in text and "whose base copy (index < 1,000,000) is missing" in text
    tests = [m["splits"]["test"] for m in per_iteration]
    style = [_cell(t["per_category"]["image_style"]) for t in tests]
    circular_style = [_cell(t["circular"]["per_category"]["image_style"]) for t in tests]
    assert style[1] == "75.0 (30–95)" and circular_style[1] == "50.0 (9–91)"
    assert f"| image_style | 4 | {' | '.join(style)} | 2 | {' | '.join(circular_style)} |" in text
    coarse = [_cell(t["per_l2_category"][COARSE]) for t in tests]
    assert coarse[1].startswith("83.3 (") and f"| **{COARSE}** | 6 | {' | '.join(coarse)} | 3 |" in text


def _cell(entry: dict) -> str:
    """A summary.md cell: the accuracy and its 95 % interval."""
    return f"{entry['acc']:.1f} ({entry['ci_low']:.0f}–{entry['ci_high']:.0f})"


def test_summary_without_categories_keeps_the_earlier_shape(tmp_path):
    predictions = pl.DataFrame(
        {
            "id": ["a", "b"],
            "qtype": [3, 3],
            "split": ["test"] * 2,
            "answer": ["A", "B"],
            "prediction": ["A", "A"],
            "correct": [True, False],
            "scores": [[0.0]] * 2,
        }
    )
    summary = summarize("plain", "0" * 12, [metrics(predictions, "letter")], [None], [0], SEED_TABLE)
    assert set(summary["iterations"][0]) == {"iteration", "overall", "per_type", "n_eval", "samples_added", "quotas"}
    write_summary_md(summary, [metrics(predictions, "letter")], tmp_path / "summary.md", SEED_TABLE)
    assert "## Per category" not in (tmp_path / "summary.md").read_text()


def test_circular_questions_without_their_base_copy_are_kept_and_logged(tmp_path, caplog):
    rows = [row for row in mmbench_rows() if row["index"] != 1]  # question 1 keeps only its rotation
    copy = next(row for row in rows if row["index"] == 1_000_001)
    copy["image"] = base64.b64encode(png("green")).decode()  # a copy with its own image, as the index is gone
    with caplog.at_level(logging.WARNING, logger="dataengine"):
        items = build_real_benchmark(
            "mmbench", tmp_path / "bench", write_mmbench(tmp_path, rows) | {"dev_share": 0.0}, seed_types(3, 4), seed=0
        )
    assert items.filter(pl.col("group") == 1)["id"].to_list() == ["mmb-1000001"]
    assert any("1 questions have no base copy" in m and "groups [1]" in m for m in caplog.messages)

"""The paper's v2 regime through Snakemake: every iteration trains the start model again on LLaVA-format
base data (tests/data/llava) plus every engine sample so far; iteration 0 is the start model trained
on the base data alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dataengine.core.jsonl import read_jsonl
from tests.conftest import CONFIGS, snakemake
from tests.real_fixtures import write_mmbench
from tests.test_workflow import planned_jobs

LLAVA = Path(__file__).parent / "data" / "llava"


def from_start_overlay(tmp_path: Path, iterations: int) -> Path:
    """The v2 regime on the tiny student, reported on an MMBench dev file too (all of it: dev_share 0)."""
    overlay = tmp_path / "from_start.yaml"
    base_data = {
        "path": str(LLAVA / "llava_fixture.json"),
        "image_dir": str(LLAVA / "images"),
        "missing_images": "skip",
    }
    mmbench = write_mmbench(tmp_path / "mmbench") | {"dev_share": 0}
    overlay.write_text(
        yaml.safe_dump(
            {
                "run": "v2",
                "iterations": iterations,
                "report_benchmarks": {"mmbench_dev": mmbench},
                "train": {"regime": "from_start", "base_data": base_data},
            }
        )
    )
    return overlay


@pytest.mark.parametrize("iterations", [1, 2])
def test_dry_run_plans_the_start_model_base_data_and_every_retraining(workdir, tmp_path, iterations):
    configs = [CONFIGS / "small.yaml", from_start_overlay(tmp_path, iterations)]
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=configs))
    k = iterations
    assert jobs == {
        "build_benchmark": 1,
        "build_pool": 1,
        "embed_pool": 1,
        "seed_set": 1,
        "base_model": 1,
        "prepare_base_data": 1,
        "train_start": 1,
        "evaluate_base": 1,
        "evaluate": k,
        "plan": k,
        "generate": k,
        "validate": k,
        "train": k,
        "report": 1,
        "all": 1,
        "build_report_benchmark": 1,
        "evaluate_report_base": 1,
        "evaluate_report": k,
    }


def test_the_regime_needs_its_base_data(workdir, tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("train: {regime: from_start}\n")
    result = snakemake(workdir, "-n", configfiles=[CONFIGS / "small.yaml", overlay])
    assert result.returncode != 0
    assert "train.base_data: set it exactly when train.regime is from_start" in result.stdout + result.stderr


def test_llava_data_trains_end_to_end_from_the_start_model(workdir, tmp_path):
    result = snakemake(workdir, "--cores", "2", configfiles=[CONFIGS / "small.yaml", from_start_overlay(tmp_path, 1)])
    assert result.returncode == 0, result.stderr[-3000:]
    run = workdir / "results" / "v2"
    stats = json.loads((run / "base_data" / "stats.json").read_text())
    assert (stats["records"], stats["skipped_missing_image"]) == (6, 1)

    # Iteration 0: the built tiny student (start_model) trained on the six base conversations alone.
    start_log = json.loads((run / "start_model" / "train_log.json").read_text())
    assert set(start_log) == {"caption", "seed_set"}
    iter0 = json.loads((run / "iter_0" / "model" / "train_log.json").read_text())
    assert (iter0["base_records"], iter0["new_samples"], iter0["replay_samples"], iter0["records"]) == (6, 0, 0, 6)

    # Iteration 1: the start model again, on the base data and every engine sample in three views.
    accepted = read_jsonl(run / "iter_1" / "data" / "accepted.jsonl")
    iter1 = json.loads((run / "iter_1" / "model" / "train_log.json").read_text())
    assert accepted and iter1["new_samples"] == len(accepted) and iter1["replay_samples"] == 0
    assert iter1["records"] == 6 + 3 * len(accepted)
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert [it["iteration"] for it in summary["iterations"]] == [0, 1]

    # Both evaluations, as the paper reports them: the main benchmark and MMBench dev with CircularEval.
    reported = summary["reported"]["mmbench_dev"]
    assert [(it["iteration"], it["n_eval"], it["circular"]["n_eval"]) for it in reported] == [(0, 5, 3), (1, 5, 3)]
    text = (run / "report" / "summary.md").read_text()
    assert "## Reported on `mmbench_dev`" in text and "### CircularEval" in text

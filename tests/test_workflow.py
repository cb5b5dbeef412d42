"""The real Snakemake workflow: the DAG it plans, a malformed config, and an end-to-end run whose
provenance is checked (nothing reruns; a generation knob of iteration 2 reruns only 2 and later)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from dataengine.core.jsonl import read_jsonl
from dataengine.core.qtypes import SEED_TABLE
from tests.conftest import CONFIGS, offline_loop_jobs, snakemake


def planned_jobs(result) -> dict[str, int]:
    """The job-count table of `snakemake -n --quiet rules`."""
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    table = text.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.mark.parametrize("iterations", [1, 3])
def test_dry_run_plans_every_stage_of_k_iterations(workdir, tmp_path, iterations):
    overlay = tmp_path / "k.yaml"
    overlay.write_text(f"iterations: {iterations}\n")
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[CONFIGS / "small.yaml", overlay]))
    assert jobs == offline_loop_jobs(iterations)


def test_real_base_model_skips_the_tiny_student(workdir, tmp_path):
    model = tmp_path / "llava"
    model.mkdir()
    overlay = tmp_path / "real.yaml"
    overlay.write_text(yaml.safe_dump({"student": {"base": str(model), "scoring": "letter"}, "iterations": 1}))
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[CONFIGS / "small.yaml", overlay]))
    assert "base_model" not in jobs and jobs["evaluate_base"] == jobs["evaluate"] == 1


def test_malformed_config_stops_with_the_key_named(workdir, tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("train:\n  method: half\n  stepz: 3\n")
    result = snakemake(workdir, "-n", configfiles=[CONFIGS / "small.yaml", overlay])
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "train.method: 'half' is not one of ['full', 'lora']" in text
    assert "Additional properties are not allowed ('stepz' was unexpected)" in text
    assert not (workdir / "results").exists()


def test_a_run_name_that_leaves_results_is_refused(workdir):
    result = snakemake(workdir, "-n", "--config", "run=..")
    assert result.returncode != 0
    assert "run: '..' does not match" in result.stdout + result.stderr
    assert list(workdir.iterdir()) in ([], [workdir / ".snakemake"])  # nothing written above results/


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """The small config run for real, once for the tests below."""
    workdir = tmp_path_factory.mktemp("run")
    result = snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_end_to_end_summary_follows_the_contract(finished_run):
    config = yaml.safe_load((CONFIGS / "small.yaml").read_text())
    run = finished_run / "results" / "small"
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert set(summary) == {"run", "config_hash", "iterations", "best"}
    best = summary["best"]  # chosen on dev; its model folder is in the run
    assert best == json.loads((run / "report" / "best.json").read_text()) and (run / best["model"]).is_dir()
    assert best["model"] == f"iter_{best['iteration']}/model"
    assert summary["run"] == "small" and re.fullmatch(r"[0-9a-f]{12}", summary["config_hash"])
    names = {SEED_TABLE.name(t) for t in config["qtypes"]}
    rows = summary["iterations"]
    assert [row["iteration"] for row in rows] == [0, 1, 2]
    for row in rows:
        keys = {"iteration", "overall", "per_type", "n_eval", "samples_added", "quotas"}
        assert set(row) == keys | ({"changes"} if row["iteration"] else set())
        assert set(row["per_type"]) == names
        assert row["n_eval"] == len(config["qtypes"]) * config["benchmark"]["test_per_type"]
        assert 0 <= row["overall"] <= 100
    assert rows[0]["samples_added"] == 0
    for row in rows[:-1]:
        assert sum(row["quotas"].values()) == config["sampling"]["budget"]
    for row in rows[1:]:
        accepted = (run / f"iter_{row['iteration']}" / "data" / "accepted.jsonl").read_text().splitlines()
        assert row["samples_added"] == len(accepted) > 0
        changes = row["changes"]  # paired on the same test items as the iteration before
        assert changes["overall"]["n"] == row["n_eval"] and set(changes["per_type"]) == names
        assert all(set(entry) == {"points", "n", "p"} for entry in changes["per_type"].values())
    for name in ("summary.json", "summary.md", "best.json", "accuracy.png", "types.png", "index.html"):
        assert (run / "report" / name).stat().st_size > 0


@pytest.mark.slow
def test_the_run_exports_as_a_dataset_that_datasets_opens_with_its_card(finished_run, tmp_path):
    exported = subprocess.run(
        [str(Path(sys.executable).parent / "dataengine"), "data", "export", "--format", "hf", "small"]
        + ["--out", str(tmp_path / "hf")],
        cwd=finished_run,
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    run = finished_run / "results" / "small"
    accepted = [read_jsonl(run / f"iter_{i}" / "data" / "accepted.jsonl") for i in (1, 2)]
    import datasets

    loaded = datasets.load_dataset("parquet", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    train = loaded["train"]
    assert train.num_rows == sum(map(len, accepted)) and train["id"] == [s["id"] for s in accepted[0] + accepted[1]]
    first = train[0]
    assert first["image"].size == (64, 64)  # a picture, decoded by the Image feature
    assert (first["question"], first["answer"]) == (accepted[0][0]["instruction"], accepted[0][0]["choice_answer"])
    card = (tmp_path / "hf" / "README.md").read_text()
    assert card.startswith("---\npretty_name: dataengine run small\n")
    per_type = {SEED_TABLE.name(t): [sum(s["qtype"] == t for s in it) for it in accepted] for t in (1, 3, 4)}
    for name, counts in per_type.items():
        assert f"| {name} | {counts[0]} | {counts[1]} |" in card
    assert "| teacher | `oracle` (the samples' own record) |" in card and "Rendered by dataengine from code" in card
    assert "| recommended model | `iter_" in card


@pytest.mark.slow
def test_second_run_does_nothing(finished_run):
    result = snakemake(finished_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_generation_knob_of_iteration_2_reruns_only_2_and_later(finished_run, tmp_path):
    overlay = tmp_path / "knob.yaml"
    overlay.write_text(yaml.safe_dump({"per_iteration": {2: {"teacher": {"prompt_version": "oracle-v2"}}}}))
    result = snakemake(finished_run, "-n", configfiles=[CONFIGS / "small.yaml", overlay])
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "Params have changed since last execution" in text
    jobs = planned_jobs(
        snakemake(finished_run, "-n", "--quiet", "rules", configfiles=[CONFIGS / "small.yaml", overlay])
    )
    assert jobs == {"generate": 1, "validate": 1, "train": 1, "evaluate": 1, "report": 1, "all": 1}
    wildcards = set(re.findall(r"wildcards: i=(\d+)", text))
    assert wildcards == {"2"}


@pytest.mark.slow
def test_a_sampling_knob_of_iteration_2_from_the_command_line(finished_run):
    """Typed from Snakemake's strings, it reruns iteration 2's plan and what follows it, and the
    reason names the knob that changed, not two whole sections."""
    override = "per_iteration={2: {sampling: {budget: 30}}}"
    result = snakemake(finished_run, "-n", "--config", override)
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "before: ('budget', 24) now: ('budget', 30)" in text and "('strategy'" not in text
    assert re.search(r"rule plan:\n(?:    .*\n)*?    output: results/small/iter_2/plan/quotas.json", text)
    assert set(re.findall(r"wildcards: i=(\d+)", text)) == {"2"}
    refused = snakemake(finished_run, "-n", "--config", "per_iteration={7: {sampling: {budget: 30}}}")
    assert refused.returncode != 0
    assert "overrides of iterations ['7'], but the run has 2" in refused.stdout + refused.stderr


@pytest.mark.slow
def test_a_variant_starts_from_the_run_s_iteration_0(finished_run):
    variant = snakemake(finished_run, "-n", "--quiet", "rules", "--config", "run=variant", "base_run=small", "seed=0")
    assert variant.returncode == 0, variant.stderr
    assert planned_jobs(variant) == {
        "plan": 2,
        "generate": 2,
        "validate": 2,
        "train": 2,
        "evaluate": 2,
        "report": 1,
        "all": 1,
    }
    other = snakemake(finished_run, "-n", "--config", "run=variant", "base_run=small", "seed=3")
    text = other.stdout + other.stderr
    assert other.returncode != 0 and "base_run small: its benchmark, pool or iteration 0 were made with other" in text
    assert "seed: 0 -> 3" in text


@pytest.mark.slow
def test_every_output_is_readable_by_the_group(finished_run):
    """With umask 022 every folder is 0755 and every file 0644, models included (a cluster group reads them)."""
    paths = [finished_run / "results", *(finished_run / "results").rglob("*")]
    modes = {oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.is_dir()}
    assert modes == {"0o755"}
    modes = {oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.is_file()}
    assert modes == {"0o644"}
    assert (finished_run / "results" / "small" / "iter_2" / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_each_round_replays_the_earlier_iterations_data(finished_run):
    """Iteration i trains on its accepted samples plus `train.replay` drawn from iterations 0..i-1
    (iteration 0: the tiny student's seed set)."""
    replay = yaml.safe_load((CONFIGS / "small.yaml").read_text())["train"]["replay"]
    run = finished_run / "results" / "small"
    for i in (1, 2):
        log = json.loads((run / f"iter_{i}" / "model" / "train_log.json").read_text())
        accepted = (run / f"iter_{i}" / "data" / "accepted.jsonl").read_text().splitlines()
        assert (log["new_samples"], log["replay_samples"]) == (len(accepted), replay)
        assert sum(log["replayed_from"].values()) == replay and set(log["replayed_from"]) <= {str(j) for j in range(i)}


@pytest.mark.slow
def test_the_loop_plans_from_dev_items_only(finished_run):
    """The test split is what the report shows: none of its items may become an in-context example or
    the anchor a similar image is sought for (both come from bad cases)."""
    run = finished_run / "results" / "small"
    items = pl.read_parquet(run / "benchmark" / "items.parquet")
    split_of = dict(zip(items["image"], items["split"]))
    examples = [
        example
        for path in sorted(run.rglob("queries.jsonl"))
        for query in read_jsonl(path)
        for example in query["in_context"]
    ]
    assert examples and {split_of[example["image"]] for example in examples} == {"dev"}

"""The loop through SLURM (`--profile profiles/slurm`): the profile's plan (offline), and the tiny loop
run for real on a cluster (tools/slurm/cluster.sh up; `.ci/run` does it) against a local run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter

import pytest
import yaml

from tests.conftest import CONFIGS, REPO, snakemake

PROFILE = REPO / "profiles" / "slurm"
GPU_RULES = {"base_model", "train", "evaluate", "evaluate_base", "embed_pool"}
# A test cluster has no accounts; status checks start after 2 s instead of 40.
TEST_CLUSTER = ("--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2")


def no_cluster_reason() -> str | None:
    """Why the SLURM run cannot happen here, or None when a cluster answers."""
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    if not shutil.which("sinfo"):
        return "no SLURM client (sinfo); start a test cluster with tools/slurm/cluster.sh up"
    state = subprocess.run(["sinfo", "-h", "-o", "%a %t"], capture_output=True, text=True, timeout=30)
    if state.returncode != 0 or not re.search(r"^up (idle|mix|alloc)", state.stdout, re.M):
        return f"no SLURM node up (sinfo: {(state.stdout + state.stderr).strip()!r}); run tools/slurm/cluster.sh up"
    return None


@pytest.fixture
def one_iteration(tmp_path):
    overlay = tmp_path / "one.yaml"
    overlay.write_text("iterations: 1\n")
    return [CONFIGS / "small.yaml", overlay]


def test_profile_puts_torch_steps_on_gpus_and_groups_the_small_cpu_steps(workdir, one_iteration):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="needs the `slurm` extra")
    result = snakemake(workdir, "-n", "--profile", str(PROFILE), *TEST_CLUSTER, configfiles=one_iteration)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    resources = dict(re.findall(r"^\s*rule (\w+):.*?^\s*resources: (.*?)$", text, re.M | re.S))
    assert GPU_RULES | {"report"} <= set(resources)
    for rule in GPU_RULES & set(resources):
        assert "slurm_partition=gpu" in resources[rule] and "gpu=1" in resources[rule], rule
    assert "slurm_partition=cpu" in resources["report"] and "gpu=" not in resources["report"]
    groups = yaml.safe_load((PROFILE / "config.yaml").read_text())["groups"]
    assert set(re.findall(r"Group job (\w+)", text)) == set(groups.values()) == {"prepare", "cpu_steps"}


def sbatch_jobs_expected(workdir, configfiles) -> int:
    """Jobs a fresh `workdir` would run, less `all` (run by the main process), with each group's jobs
    counted once (one iteration: each group is one connected set of jobs)."""
    table = snakemake(workdir, "-n", "--quiet", "rules", configfiles=configfiles)
    text = (table.stdout + table.stderr).split("Job stats:")[1]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.M) if m[1] not in ("total", "all")}
    groups = yaml.safe_load((PROFILE / "config.yaml").read_text())["groups"]
    return sum(n for rule, n in jobs.items() if rule not in groups) + len(set(groups.values()))


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_loop_through_slurm_matches_a_local_run(tmp_path_factory, one_iteration):
    reason = no_cluster_reason()
    if reason and os.environ.get("DATAENGINE_SLURM_REQUIRED"):  # CI brings a cluster up: it must run
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)
    on_slurm, local = tmp_path_factory.mktemp("slurm"), tmp_path_factory.mktemp("local")
    start = time.monotonic()
    result = snakemake(on_slurm, "--profile", str(PROFILE), *TEST_CLUSTER, configfiles=one_iteration, timeout=1500)
    seconds = time.monotonic() - start
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-5000:]
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", text)
    print(f"SLURM loop: {seconds:.0f} s wall, {len(submitted)} sbatch jobs")

    assert len(submitted) == sbatch_jobs_expected(local, one_iteration)  # planned before the local run
    run_id = re.search(r"SLURM run ID: ([\w-]+)", text)[1]
    fields = ("JobID", "Partition", "Comment", "tres-per-job", "State")  # finished jobs stay for MinJobAge
    listed = subprocess.run(
        ["squeue", "--states=all", "-h", "-n", run_id, "-O", ",".join(f"{f}:100" for f in fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    jobs = [dict(zip(("id", "partition", "comment", "gres", "state"), line.split())) for line in listed]
    assert sorted(job["id"] for job in jobs) == sorted(submitted)
    assert {job["state"] for job in jobs} == {"COMPLETED"}
    on_gpu = Counter(
        re.match(r"rule_(\w+?)(?:_wildcards.*)?$", job["comment"])[1] for job in jobs if job["partition"] == "gpu"
    )
    assert set(on_gpu) <= GPU_RULES and on_gpu["train"] == on_gpu["evaluate"] == on_gpu["evaluate_base"] == 1
    assert all("gpu:1" in job["gres"] for job in jobs if job["partition"] == "gpu")

    assert snakemake(local, "--cores", "2", configfiles=one_iteration).returncode == 0
    summaries = [json.loads((d / "results/small/report/summary.json").read_text()) for d in (on_slurm, local)]
    assert summaries[0] == summaries[1]
    assert [row["iteration"] for row in summaries[0]["iterations"]] == [0, 1]
    assert summaries[0]["iterations"][1]["samples_added"] > 0
    assert not list((on_slurm / "results").rglob("*.ckpt"))  # checkpoints go once the models are saved

"""The whole loop with `teacher.kind: openai` against the local fake server, through Snakemake."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from dataengine.endpoint.ledger import Ledger
from tests.conftest import CONFIGS, shipped_prompts, snakemake, start_snakemake
from tests.test_workflow import planned_jobs
from tools.fake_openai import FakeOpenAI, FakeSettings


@pytest.mark.slow
def test_loop_with_the_openai_teacher_runs_offline_and_reruns_only_what_a_prompt_edit_touches(tmp_path):
    workdir = tmp_path / "run"
    prompts = tmp_path / "prompts"
    shipped_prompts(prompts)
    with FakeOpenAI() as server:
        overlay = tmp_path / "server.yaml"
        overlay.write_text(yaml.safe_dump({"teacher": {"base_url": server.base_url, "prompts": str(prompts)}}))
        configs = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay]
        result = snakemake(workdir, "--cores", "2", configfiles=configs)
        assert result.returncode == 0, result.stderr[-4000:]
        run = workdir / "results" / "small-openai"
        for i in (1, 2):
            stats = json.loads((run / f"iter_{i}" / "data" / "generation.json").read_text())
            queries = (run / f"iter_{i}" / "plan" / "queries.jsonl").read_text().splitlines()
            accepted = [
                json.loads(line) for line in (run / f"iter_{i}" / "data" / "accepted.jsonl").read_text().splitlines()
            ]
            assert stats["teacher"] == "openai" and stats["queries"] == len(queries) and stats["calls"] > 0
            assert stats["cost_usd"] > 0 and stats["failures"] == {}
            assert len(accepted) >= 0.9 * len(queries)  # the oracle's quality, through prompts and HTTP
            assert {(s["teacher"], s["prompt_version"]) for s in accepted} == {
                ("openai:fake-teacher", stats["prompt_version"])
            }
        summary_md = (run / "report" / "summary.md").read_text()
        seed_set = json.loads((run / "iter_0" / "data" / "generation.json").read_text())
        assert seed_set["teacher"] == "openai" and seed_set["cost_usd"] > 0 and seed_set["attempts"] == 1
        assert re.search(rf"^\| seed set \| fake-teacher \| {seed_set['calls']} \| ", summary_md, re.M)
        paid = [
            r["cost_usd"]
            for r in Ledger(run / "cache" / "teacher.ledger.jsonl", None).records()
            if r["event"] == "reply"
        ]
        assert len(paid) == server.stats()["ok"]  # every reply served is in the ledger
        assert f"Teacher cost of the run: {sum(paid):.4f} USD" in summary_md  # the seed set's included
        calls = server.stats()["requests"]

        assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(workdir, "-n", configfiles=configs))
        faster = tmp_path / "faster.yaml"
        faster.write_text(yaml.safe_dump({"teacher": {"in_flight": 2, "rpm": 6000, "max_retries": 3}}))
        result = snakemake(workdir, "-n", configfiles=[*configs, faster])
        assert "Nothing to be done" in result.stdout + result.stderr  # runtime knobs rerun nothing

        (prompts / "system.md").write_text((prompts / "system.md").read_text() + "\nBe concise.\n")
        jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=configs))
        # iteration 1 onwards; the plan made from iteration 0 and the base model stay
        assert jobs == {"generate": 2, "validate": 2, "train": 2, "evaluate": 2, "plan": 1, "report": 1, "all": 1}
        assert server.stats()["requests"] == calls


def test_two_runs_sharing_a_cache_pay_each_distinct_request_once(tmp_path):
    """Two runs with one teacher.cache, generating the same seed set at the same time."""
    workdir = tmp_path / "work"
    shared = tmp_path / "shared" / "teacher.sqlite"
    with FakeOpenAI(FakeSettings(latency_s=0.2)) as server:
        configs = {}
        for run, in_flight in (("a", 2), ("b", 4)):
            overlay = tmp_path / f"{run}.yaml"
            teacher = {"base_url": server.base_url, "cache": str(shared), "in_flight": in_flight}
            overlay.write_text(yaml.safe_dump({"run": run, "teacher": teacher}))
            configs[run] = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay]
            built = snakemake(
                workdir, "--cores", "1", f"results/{run}/pool/annotations.jsonl", configfiles=configs[run]
            )
            assert built.returncode == 0, built.stderr[-3000:]
        jobs = [
            start_snakemake(
                workdir, "--cores", "1", f"results/{run}/iter_0/data/accepted.jsonl", configfiles=configs[run]
            )
            for run in ("a", "b")
        ]
        for job in jobs:
            assert job.wait(timeout=600) == 0, job.stderr.read()[-3000:]
        stats = server.stats()
    generations = [
        json.loads((workdir / "results" / run / "iter_0" / "data" / "generation.json").read_text()) for run in "ab"
    ]
    distinct = generations[0]["requests"]
    assert distinct == generations[1]["requests"] > 50
    assert stats["requests"] == stats["ok"] == distinct and stats["repeated_ok"] == 0
    assert sum(g["this_job"]["replies"] for g in generations) == distinct
    accepted = [(workdir / "results" / run / "iter_0" / "data" / "accepted.jsonl").read_text() for run in "ab"]
    assert accepted[0].count("\n") > 50 and accepted[0].replace('"i0-', "") == accepted[1].replace('"i0-', "")

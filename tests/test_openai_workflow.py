"""The whole loop with `teacher.kind: openai` against the local fake server, through Snakemake."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from dataengine.fake_openai import FakeOpenAI
from dataengine.openai_teacher.settings import REPO
from tests.conftest import CONFIGS, snakemake
from tests.test_workflow import planned_jobs


@pytest.mark.slow
def test_loop_with_the_openai_teacher_runs_offline_and_reruns_only_what_a_prompt_edit_touches(tmp_path):
    workdir = tmp_path / "run"
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO / "config" / "prompts", prompts)
    with FakeOpenAI() as server:
        overlay = tmp_path / "server.yaml"
        overlay.write_text(yaml.safe_dump({"teacher": {"base_url": server.base_url, "prompts": str(prompts)}}))
        configs = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay]
        result = snakemake(workdir, "--cores", "2", configfiles=configs)
        assert result.returncode == 0, result.stderr[-4000:]
        run = workdir / "results" / "small-openai"
        for i in (1, 2):
            stats = json.loads((run / f"iter_{i}" / "data" / "generation.json").read_text())
            queries = (run / f"iter_{i - 1}" / "plan" / "queries.jsonl").read_text().splitlines()
            accepted = [json.loads(line) for line in (run / f"iter_{i}" / "data" / "accepted.jsonl").read_text().splitlines()]
            assert stats["teacher"] == "openai" and stats["queries"] == len(queries) and stats["calls"] > 0
            assert stats["cost_usd"] > 0 and stats["failures"] == {}
            assert len(accepted) >= 0.9 * len(queries)  # the oracle's quality, through prompts and HTTP
            assert {(s["teacher"], s["prompt_version"]) for s in accepted} == {("openai:fake-teacher", stats["prompt_version"])}
        assert "## Teacher" in (run / "report" / "summary.md").read_text()
        calls = server.stats()["requests"]

        assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(workdir, "-n", configfiles=configs))
        faster = tmp_path / "faster.yaml"
        faster.write_text(yaml.safe_dump({"teacher": {"in_flight": 2, "rpm": 6000, "max_retries": 3}}))
        result = snakemake(workdir, "-n", configfiles=[*configs, faster])
        assert "Nothing to be done" in result.stdout + result.stderr  # runtime knobs rerun nothing

        (prompts / "system.md").write_text((prompts / "system.md").read_text() + "\nBe concise.\n")
        jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=configs))
        # iteration 1 onwards; the plan made from iteration 0 and the base model stay
        assert jobs == {"generate": 2, "validate": 2, "train": 2, "evaluate": 2, "sample": 1, "summarize": 1, "all": 1}
        assert server.stats()["requests"] == calls

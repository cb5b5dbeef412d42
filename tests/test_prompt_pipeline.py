"""Choosing a prompt version in the config reruns generation and what follows, for the iterations it
applies to, and nothing else (dry runs over a run whose outputs are stand-ins marked up to date)."""

from __future__ import annotations

import pytest
import yaml

from dataengine.teacher.prompt_opt.versions import save_version
from tests.conftest import CONFIGS, REPO, snakemake, touched_run
from tests.test_workflow import planned_jobs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """small.yaml + openai.yaml, every output a stand-in marked up to date (conftest.touched_run)."""
    workdir = tmp_path_factory.mktemp("run")
    configs = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml"]
    touched_run(workdir, configs)
    return workdir, configs


@pytest.mark.parametrize(
    "choose, expected",
    [
        # teacher.prompts: both iterations generate anew; the plan from iteration 0 and the base model stay
        (lambda v: {"teacher": {"prompts": v}}, {"generate": 2, "validate": 2, "train": 2, "evaluate": 2, "plan": 1}),
        # only iteration 2 uses the new version
        (
            lambda v: {"per_iteration": {2: {"teacher": {"prompts": v}}}},
            {"generate": 1, "validate": 1, "train": 1, "evaluate": 1},
        ),
    ],
    ids=["all-iterations", "iteration-2"],
)
def test_a_new_prompt_version_reruns_only_generation_and_what_follows(finished_run, tmp_path, choose, expected):
    workdir, configs = finished_run
    version = save_version(
        REPO / "config" / "prompts", tmp_path / "versions", 5, "Count every object; answer in words."
    )
    overlay = tmp_path / "chosen.yaml"
    overlay.write_text(yaml.safe_dump(choose(str(tmp_path / "versions" / version))))
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[*configs, overlay]))
    assert jobs == {**expected, "report": 1, "all": 1}

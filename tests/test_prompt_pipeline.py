"""Choosing a prompt version in the config reruns generation and what follows, for the iterations it
applies to, and nothing else (dry runs over a run whose outputs are stand-ins marked up to date)."""

from __future__ import annotations

import pytest
import yaml

from dataengine.teacher.prompt_opt.versions import save_version
from tests.conftest import CONFIGS, REPO, snakemake
from tests.test_workflow import planned_jobs

DIRECTORY_OUTPUTS = ("/model", "/images")  # directory() outputs in rules/*.smk


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """small.yaml + openai.yaml with every output present and Snakemake's metadata recorded, made in
    seconds: the outputs are created empty, then `--touch` marks them produced by their rules."""
    workdir = tmp_path_factory.mktemp("run")
    configs = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml"]
    summary = snakemake(workdir, "--summary", configfiles=configs)
    assert summary.returncode == 0, summary.stderr[-2000:]
    for line in summary.stdout.splitlines()[1:]:
        path = workdir / line.split("\t")[0]
        if line.split("\t")[0].endswith(DIRECTORY_OUTPUTS):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    touched = snakemake(workdir, "--touch", "--cores", "1", configfiles=configs)
    assert touched.returncode == 0, touched.stderr[-2000:]
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(workdir, "-n", configfiles=configs))
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

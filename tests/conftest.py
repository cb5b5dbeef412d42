"""Shared helpers: run the real Snakemake workflow of this checkout in a scratch directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

from dataengine.core.jsonl import write_jsonl
from dataengine.model.student import save_student
from dataengine.teacher.oracle import synthetic_queries
from tests.tiny import COLOURS, colour_images, colour_sample, tiny_student

REPO = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "configs"
# The local fake server answers in milliseconds past its set latency, but on a loaded 2-core machine
# any process can stall for seconds: a client gives a reply this long past that latency before it
# calls it timed out, so only an injected hang times out.
STALL_S = 5.0


def shipped_prompts(folder: Path) -> Path:
    """A copy of the prompt files the checkout ships (config/prompts), and nothing a user's sessions
    left beside them (prompt versions): the tests must hold in a working tree that has been used."""
    from dataengine.teacher.llm.prompts import PROMPT_FILES

    folder.mkdir(parents=True, exist_ok=True)
    for name in PROMPT_FILES:
        shutil.copy2(REPO / "config" / "prompts" / name, folder / name)
    return folder


def client_timeout(latency_s: float = 0.0) -> float:
    """The timeout for a client of a local server that takes `latency_s` per reply."""
    return latency_s + STALL_S


def _snakemake(workdir: Path, args: tuple[str, ...], configfiles: list[Path] | None) -> tuple[list[str], dict]:
    """The command line and environment that run this checkout's Snakefile in `workdir`."""
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *map(str, configfiles or [CONFIGS / "small.yaml"]),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["HF_HUB_OFFLINE"] = "1"
    return command, env


def snakemake(workdir: Path, *args: str, configfiles: list[Path] | None = None, timeout: int = 900):
    """Run this checkout's Snakefile with `workdir` as working directory; returns the CompletedProcess."""
    command, env = _snakemake(workdir, args, configfiles)
    # A fixed umask, so that the modes of the outputs are what a group-shared cluster account gets.
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, umask=0o022)


def start_snakemake(workdir: Path, *args: str, configfiles: list[Path] | None = None) -> subprocess.Popen:
    """The same, in the background (its stderr is kept); wait() for it."""
    command, env = _snakemake(workdir, args, configfiles)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, umask=0o022)


DIRECTORY_OUTPUTS = ("/model", "/images")  # directory() outputs in rules/*.smk


def touched_run(workdir: Path, configfiles: list[Path]) -> None:
    """Every output of the run in `workdir` present and Snakemake's metadata recorded, made in seconds:
    the missing outputs are created empty, then `--touch` marks them produced by their rules. For the
    tests of what a change makes Snakemake rerun, which never read the outputs."""
    summary = snakemake(workdir, "--summary", configfiles=configfiles)
    assert summary.returncode == 0, summary.stderr[-2000:]
    for line in summary.stdout.splitlines()[1:]:
        output = line.split("\t")[0]
        path = workdir / output
        if path.exists():
            continue
        if output.endswith(DIRECTORY_OUTPUTS):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    touched = snakemake(workdir, "--touch", "--cores", "1", configfiles=configfiles)
    assert touched.returncode == 0, touched.stderr[-2000:]
    nothing = snakemake(workdir, "-n", configfiles=configfiles)
    assert "Nothing to be done" in nothing.stdout + nothing.stderr


def offline_loop_jobs(iterations: int) -> dict[str, int]:
    """The jobs of the offline loop (tiny student, synthetic world) over `iterations`, by rule."""
    once = ["build_benchmark", "build_pool", "embed_pool", "seed_set", "base_model", "evaluate_base", "report", "all"]
    per_iteration = ["evaluate", "plan", "generate", "validate", "train"]
    return {rule: 1 for rule in once} | {rule: iterations for rule in per_iteration}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def colour_task(tmp_path):
    """A saved base model and accepted colour samples: the inputs of pipeline.train."""
    paths = colour_images(tmp_path)
    write_jsonl(tmp_path / "accepted.jsonl", [colour_sample(c, paths[c]) for c in COLOURS])
    save_student(*tiny_student(), tmp_path / "base")
    return tmp_path


@pytest.fixture
def tiny_clip(tmp_path):
    """A tiny random CLIPModel with its image processor, saved to a local folder."""
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 16,
            "patch_size": 8,
        },
        projection_dim=12,
    )
    CLIPModel(config).save_pretrained(tmp_path / "clip")
    CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(
        tmp_path / "clip"
    )
    return tmp_path / "clip"


def make_queries(n_per_type=10, seed=0):
    """Queries as the planner writes them, each asking the type of its image's scene family."""
    return synthetic_queries(n_per_type, seed)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Unit tests use one torch thread: on a shared 2-core machine, two threads contend and a
    0.4 s test can take 30 s. The workflow's jobs set their own thread count from the config."""
    import torch

    torch.set_num_threads(1)


# The modules that take minutes (workflow runs, trained bases, process groups), longest first as
# `make test --durations` measured them on a 2-core machine (2026-12-08; test_slurm when a cluster is
# up, as in CI). pytest-xdist hands out modules in collection order: these start first, so that the
# workers end together instead of one finishing a long module alone while the other idles.
LONG_MODULES = (
    "test_strategy_experiment",
    "test_distributed",
    "test_slurm",
    "test_quality_guard",
    "test_workflow",
    "test_own_model",
    "test_run_report_page",
    "test_openai_workflow",
    "test_from_start",
    "test_no_leak",
    "test_own_benchmark",
    "test_sources",
    "test_openai_teacher",
    "test_families",
)


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(LONG_MODULES)))

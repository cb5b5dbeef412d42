"""`dataengine doctor`: what a run needs, checked all at once before anything runs, so a user fixes
everything in one go: every source path and model folder, the keys its endpoints need, a CUDA build
of torch where a real model trains, and the disk space the run will take."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dataengine.core.config import knobs
from dataengine.data.paths import config_paths
from dataengine.teacher.llm.prompts import PROMPT_FILES
from dataengine.teacher.llm.settings import resolve_prompts

GIB = 2**30
# Measured: a run of the offline default (3 iterations) writes 102 MB (images, four tiny models, tables).
TINY_RUN_BYTES = 200 * 2**20  # with a margin


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warning" or "error"
    what: str

    def __str__(self) -> str:
        return {"ok": "  ok      ", "warning": "  warning ", "error": "  error   "}[self.level] + self.what


def check(config: dict) -> list[Finding]:
    """Every finding about a validated config; a run can start when none is an error."""
    return [*_paths(config), *_student(config), *_keys(config), *_torch(config), *_disk(config)]


def _paths(config: dict) -> list[Finding]:
    """Every path the run reads (the Snakefile's list), the teacher's prompt files and a base run's config."""
    paths = config_paths(config)
    if config["retrieval"]["encoder"] == "clip" and not config["retrieval"].get("model"):
        paths.append(("retrieval.model", "<unset>"))
    for i in range(1, config["iterations"] + 1):
        teacher = knobs(config, "teacher", i)
        if teacher["kind"] == "openai":
            folder = resolve_prompts(teacher["prompts"])
            paths += [(f"teacher.prompts (iteration {i})", str(folder / name)) for name in PROMPT_FILES]
    if config.get("base_run"):
        paths.append(("base_run", f"results/{config['base_run']}/config.yaml"))
    missing = sorted({(key, path) for key, path in paths if not os.path.exists(path)})
    if not paths:
        return [Finding("ok", "no source paths: the offline default builds its benchmark, pool and student")]
    found = [Finding("error", f"{key}: {path} does not exist") for key, path in missing]
    return found or [Finding("ok", f"all {len(set(paths))} configured paths exist")]


def _student(config: dict) -> list[Finding]:
    """A student folder's family (supported, and the one student.family names), its processor, which
    must load from the folder (some families' need torchvision), and every iteration's train settings
    against the model's layers (a LoRA name that matches none), on the meta device: no weights read."""
    base = config["student"]["base"]
    if base in ("tiny", "assembled") or not Path(base, "config.json").is_file():
        return []
    from dataengine.model.student import check_family, load_processor, meta_model
    from dataengine.model.trainable import check_trainable
    from dataengine.train.training import TrainConfig

    try:
        family = check_family(base, config["student"]["family"])
        load_processor(base)
        model = meta_model(base)
        for iteration in range(1, config["iterations"] + 1):
            check_trainable(model, family, TrainConfig.from_config(knobs(config, "train", iteration)))
    except (OSError, ValueError, ImportError) as error:
        return [Finding("error", f"student.base: {error}")]
    return [Finding("ok", f"student.base: a {family.title} model ({family.name}); its processor loads, train fits it")]


def _keys(config: dict) -> list[Finding]:
    """The environment variables holding the keys of the endpoints the run calls (a local server,
    with base_url set, needs none)."""
    endpoints = {}  # (key variable, server) -> the config section naming it first
    for i in range(0 if config["student"]["base"] == "tiny" else 1, config["iterations"] + 1):
        teacher = knobs(config, "teacher", i) if i else config["teacher"]  # iteration 0: the seed set
        if teacher["kind"] == "openai":
            endpoints.setdefault((teacher["api_key_env"], teacher["base_url"]), "teacher")
    extractor = config["evaluate"]["extractor"]
    if config["student"]["scoring"] == "generate" and extractor["kind"] == "openai":
        endpoints.setdefault((extractor["api_key_env"], extractor["base_url"]), "evaluate.extractor")
    found = []
    for (variable, base_url), section in endpoints.items():
        if base_url:
            found.append(Finding("ok", f"{section}: a local server ({base_url}) needs no key"))
        elif os.environ.get(variable):
            found.append(Finding("ok", f"{section}: the key is in ${variable}"))
        else:
            found.append(
                Finding(
                    "error", f"{section}: ${variable} ({section}.api_key_env) is not set; the OpenAI API needs a key"
                )
            )
    return found


def _torch(config: dict) -> list[Finding]:
    """A real model wants a CUDA build of torch and a GPU per training process."""
    import torch

    if config["student"]["base"] == "tiny":
        return [Finding("ok", f"torch {torch.__version__}: the tiny student runs on a CPU")]
    if not torch.cuda.is_available():
        level = "error" if torch.version.cuda is None else "warning"
        build = (
            "a CPU build"
            if torch.version.cuda is None
            else f"built for CUDA {torch.version.cuda}, but no GPU is visible here"
        )
        return [
            Finding(level, f"torch {torch.__version__} is {build}; a real model trains on GPUs (README, On GPU nodes)")
        ]
    gpus, processes = torch.cuda.device_count(), config["train"]["processes"]
    level = "ok" if gpus >= processes else "error"
    return [
        Finding(
            level,
            f"torch {torch.__version__} with CUDA {torch.version.cuda}: {gpus} GPUs here, train.processes {processes}",
        )
    ]


def _disk(config: dict) -> list[Finding]:
    """Free space under results/ against what the run writes: a model per iteration of the student's
    size (a merged LoRA model is a whole model), the assembled start model once; or, for the offline
    default, what it measured."""
    results = Path("results")
    free = shutil.disk_usage(results if results.exists() else Path.cwd()).free
    if config["student"]["base"] == "tiny":
        needed, how = TINY_RUN_BYTES, "as the offline default measured"
    else:
        parts = _model_parts(config)
        if not all(Path(part).exists() for part in parts):
            return [
                Finding(
                    "warning",
                    f"disk: {free / GIB:.1f} GiB free under {results.resolve()}; what the run "
                    "writes is unknown until the student's files are on disk",
                )
            ]
        size = sum(_size(Path(part)) for part in parts)
        models = (
            config["iterations"]
            + (config["student"]["base"] == "assembled")
            + (config["train"]["regime"] == "from_start")
        )
        needed, how = size * models, f"{models} models of {size / GIB:.1f} GiB"
    level = "ok" if free >= needed else "error"
    return [
        Finding(
            level,
            f"disk: {free / GIB:.1f} GiB free under {results.resolve()}, the run writes about "
            f"{needed / GIB:.1f} GiB ({how})",
        )
    ]


def _model_parts(config: dict) -> list[str]:
    student = config["student"]
    if student["base"] == "assembled":
        return [student["assemble"][part] for part in ("language_model", "vision_tower", "projector")]
    return [student["base"]]


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

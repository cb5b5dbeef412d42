"""Students as HF folders: building a tiny one of any family, saving atomically, loading any local one.

No model or tokenizer may come from a hub offline, so a tiny student is built from its family's config
classes with a word-level tokenizer trained on the synthetic vocabulary. Every student is saved as an
ordinary HF folder, so one loading path (`load_student`) serves the tiny ones and a real model such as
llava-hf/llava-1.5-7b-hf or Qwen/Qwen2.5-VL-7B-Instruct alike, and the folder's `model_type` says its
family (dataengine.model.families).
"""

import inspect
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoProcessor,
    Cache,
    PreTrainedModel,
    ProcessorMixin,
)

from dataengine.model.families import TINY_DEFAULT, Family, family_named, family_of_folder

# Sizes measured to learn the synthetic benchmark and run fast on 2 CPU cores (docs/models.md):
# 16 image tokens, ~0.6 M parameters.
DEFAULT_ARCH: dict[str, int] = {
    "patch_size": 16,
    "vision_hidden": 96,
    "vision_mlp": 192,
    "vision_layers": 2,
    "vision_heads": 4,
    "text_hidden": 128,
    "text_mlp": 256,
    "text_layers": 2,
    "text_heads": 4,
    "text_kv_heads": None,  # grouped-query attention's key/value heads; None: as many as text_heads
    "max_positions": 512,
}


def build_tiny_student(
    corpus: Iterable[str], arch: dict, image_size: int, seed: int, family: str = TINY_DEFAULT
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """A randomly initialised tiny student of `family` (DEFAULT_ARCH's sizes, `arch` over them) and its
    processor, with a word-level tokenizer of `corpus`."""
    unknown = set(arch) - set(DEFAULT_ARCH)
    if unknown:
        raise ValueError(f"unknown student arch keys {sorted(unknown)}; known: {sorted(DEFAULT_ARCH)}")
    return family_named(family).tiny(list(corpus), DEFAULT_ARCH | arch, image_size, seed)


def save_student(
    model: PreTrainedModel, processor: ProcessorMixin, out_dir: Path, train_log: dict | None = None
) -> Path:
    """Save model + processor (+ train_log.json) as an HF folder. Written into a temporary folder
    beside `out_dir` and renamed into place, so an interrupted save never looks complete. Folder and
    files get the modes the umask gives any other output, so a cluster group can read the models."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling_folder(out_dir, "tmp")
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if train_log is not None:
            (tmp / "train_log.json").write_text(json.dumps(train_log, indent=1))
        umask_modes(tmp)
        if out_dir.exists():
            old = _sibling_folder(out_dir, "old")
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def _sibling_folder(out_dir: Path, suffix: str) -> Path:
    """A new hidden folder beside `out_dir`, unique to this process and call; made with mkdir, so its
    mode follows the umask (mkdtemp's is always 0700)."""
    folder = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{suffix}"
    folder.mkdir()
    return folder


def umask_modes(folder: Path) -> None:
    """Give everything under `folder` (made with mkdir) the mode an ordinary output gets: transformers
    and peft write weights through a private temporary file (0600)."""
    folder_mode = stat.S_IMODE(folder.stat().st_mode)
    for path in folder.rglob("*"):
        path.chmod(folder_mode if path.is_dir() else folder_mode & 0o666)


def load_student(
    path: Path | str, dtype: str = "float32", family: str = "auto"
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Load an HF image-text-to-text model of a supported family and its processor from a local folder,
    never a hub, in `dtype` (bfloat16 for a 7B model) and on the GPU when there is one. `family` other
    than auto is what the folder must hold (a config that names its model's family)."""
    path = Path(path)
    check_family(path, family)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            path, local_files_only=True, dtype=getattr(torch, dtype), device_map=device, attn_implementation="sdpa"
        )
    except (OSError, ValueError, KeyError, ImportError) as error:
        raise ValueError(f"cannot load the model folder {path}: {error}") from error
    return model.eval(), load_processor(path)


def meta_model(path: Path | str) -> PreTrainedModel:
    """The folder's model built from its config.json on the meta device: its modules, no weights."""
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        with torch.device("meta"):
            return AutoModelForImageTextToText.from_config(config)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"cannot build the model of {path}: {error}") from error


def load_processor(path: Path | str) -> ProcessorMixin:
    """The folder's processor, its image processor in the PIL backend, as the tiny students are built
    with: the same pixels on every machine, with or without torchvision (whose backend resizes a
    little differently). Without torchvision, transformers picks that backend itself."""
    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        if not type(processor.image_processor).__name__.endswith("Pil"):
            processor.image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True, backend="pil")
    except (OSError, ValueError, KeyError, ImportError, AttributeError) as error:
        raise ValueError(f"cannot load the processor of {path}: {error}") from error
    return processor


def check_family(path: Path | str, family: str = "auto") -> Family:
    """The family of the model folder at `path`; a folder of another family than a named `family`, or
    of none supported, is refused."""
    found = family_of_folder(path)
    if family != "auto" and found.name != family:
        raise ValueError(f"student.family is {family!r}, but {path} holds a {found.title} model ({found.name})")
    return found


def enable_activation_checkpointing(model: PreTrainedModel) -> None:
    """Recompute each layer's activations in backward instead of keeping them (non-reentrant, which
    needs no input gradients for LoRA), under the name the installed transformers gives the method."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def cache_argument(model: PreTrainedModel, cache: Cache) -> dict[str, Cache]:
    """`cache` as the keyword argument the model's forward takes (its name differs between the
    transformers versions the project admits)."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    return {name: cache}

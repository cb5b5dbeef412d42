"""The student families the engine supports: one adapter each (dataengine.model.families.base says
what an adapter answers), found by config.json's `model_type`. A new family is a module here and a line
in FAMILIES; the family tests run over every entry."""

from __future__ import annotations

import json
from pathlib import Path

from dataengine.model.families.base import Family
from dataengine.model.families.gemma3 import Gemma3
from dataengine.model.families.idefics3 import Idefics3, SmolVLM
from dataengine.model.families.internvl import InternVL
from dataengine.model.families.llava import Llava, LlavaNext
from dataengine.model.families.llava_onevision import LlavaOnevision
from dataengine.model.families.qwen_vl import Qwen2VL, Qwen3VL, Qwen25VL

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Llava(),
        LlavaNext(),
        LlavaOnevision(),
        Qwen2VL(),
        Qwen25VL(),
        Qwen3VL(),
        Gemma3(),
        Idefics3(),
        SmolVLM(),
        InternVL(),
    )
}


TINY_DEFAULT = "llava"  # the tiny student's architecture when student.family is auto


class UnsupportedFamily(ValueError):
    pass


def supported() -> str:
    """The supported families as a person reads them: `name` (title), ..."""
    return ", ".join(f"{name} ({family.title})" for name, family in FAMILIES.items())


def family_named(name: str) -> Family:
    if name not in FAMILIES:
        raise UnsupportedFamily(f"unknown student family {name!r}; supported: {supported()}")
    return FAMILIES[name]


def family_of_type(model_type: str, where: str = "the model") -> Family:
    """The family serving a config.json `model_type`; refused, with the supported list, when none does."""
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    raise UnsupportedFamily(
        f"{where} is a {model_type!r} model, which no student family serves; supported: {supported()}"
    )


def family_of(model) -> Family:
    """The family of a loaded model (or of its peft wrapper)."""
    return family_of_type(model.config.model_type)


def family_of_folder(folder: str | Path) -> Family:
    """The family of an HF model folder, from its config.json alone (no weights read)."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"no HF model folder at {folder} (config.json missing)")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8"))["model_type"]
    except (ValueError, KeyError) as error:
        raise ValueError(f"{config}: no readable model_type ({error})") from None
    return family_of_type(model_type, str(folder))

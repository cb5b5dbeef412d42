"""Which weights train, by the parts a family names (vision tower, projector, language model): the
vision tower frozen, trained in full or adapted; LoRA's layers, by full name, refused when a configured
name matches none; the projector's learning rate. `cfg` is a dataengine.train.training.TrainConfig."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from transformers import PreTrainedModel

from dataengine.model.families import Family


def _linear_layers(model: torch.nn.Module, family: Family) -> dict[str, list[str]]:
    """The names of the model's linear layers, by the part of the model they lie in."""
    layers: dict[str, list[str]] = {"vision": [], "projector": [], "language": []}
    for name, module in model.named_modules():
        part = family.parts.of(name)
        if isinstance(module, torch.nn.Linear) and part is not None:
            layers[part].append(name)
    return layers


def lora_modules(model: torch.nn.Module, family: Family, cfg) -> list[str]:
    """The linear layers LoRA adapts, by full name: the language model's `lora.target_modules`, the
    projector's (the family's names) unless it trains in full, and the vision tower's with
    `vision_tower: lora`. A configured name that matches no layer of its part is refused."""
    wanted = {"language": cfg.lora.target_modules}
    if cfg.lora.projector == "adapt":
        wanted["projector"] = family.projector_lora
    if cfg.vision_tower == "lora":
        wanted["vision"] = family.vision_lora
    layers, chosen = _linear_layers(model, family), []
    for part, leaves in wanted.items():
        if not leaves:
            raise ValueError(f"{family.title}'s {part} has no linear layer LoRA could adapt: " + _instead[part])
        for leaf in leaves:
            matched = [name for name in layers[part] if name == leaf or name.endswith(f".{leaf}")]
            if not matched:
                raise ValueError(_unmatched(family, part, leaf, layers[part]))
            chosen += matched
    return chosen


_instead = {"projector": "set train.lora.projector: full or frozen", "vision": "set train.vision_tower: frozen or full"}


def _unmatched(family: Family, part: str, leaf: str, layers: list[str]) -> str:
    known = sorted({name.rsplit(".", 1)[-1] for name in layers})
    key = {"language": "train.lora.target_modules", "projector": "the projector", "vision": "the vision tower"}[part]
    return f"{key}: {leaf!r} names no linear layer of {family.title}'s {part} part; its layers end in {known}"


def check_trainable(model: torch.nn.Module, family: Family, cfg) -> None:
    """Refuse train settings that would train nothing they name (a LoRA target matching no layer), before
    any work is done; dataengine doctor asks the same of a model folder."""
    if cfg.method == "lora":
        lora_modules(model, family, cfg)
        if cfg.vision_tower == "full" and cfg.lora.projector != "full" and _projector_inside_vision(family):
            raise ValueError(
                f"{family.title}'s projector lies inside its vision tower: with train.vision_tower full "
                "it trains in full too, so set train.lora.projector: full"
            )


def _projector_inside_vision(family: Family) -> bool:
    return family.parts.projector.startswith(family.parts.vision + ".")


def freeze_vision(model: PreTrainedModel, family: Family, cfg) -> PreTrainedModel:
    """Full fine-tuning: every weight trains but the vision tower's, unless `vision_tower: full`."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(cfg.vision_tower == "full" or family.parts.of(name) != "vision")
    return model


def with_lora(model: PreTrainedModel, family: Family, cfg) -> PreTrainedModel:
    """The model with LoRA adapters on `lora_modules`; with `projector: full` the projector's own weights
    train beside them (peft's modules_to_save), as LLaVA-1.5's LoRA recipe does, and with
    `vision_tower: full` the vision tower's."""
    saved = [family.parts.vision] if cfg.vision_tower == "full" else []
    if cfg.lora.projector == "full" and not (saved and _projector_inside_vision(family)):
        saved.append(family.parts.projector)
    config = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=lora_modules(model, family, cfg),
        modules_to_save=saved or None,
    )
    return get_peft_model(model, config)


def param_groups(model: torch.nn.Module, family: Family, cfg) -> list[dict]:
    """Weight decay on matrices only, not on biases and norm scales (the usual AdamW practice); the
    projector's weights at `projector_lr` when set (LLaVA's mm_projector_lr), the rest at `lr`."""
    groups = []
    for projector in (False, True):
        lr = cfg.projector_lr if projector and cfg.projector_lr is not None else cfg.lr
        trainable = [
            p
            for name, p in model.named_parameters()
            if p.requires_grad and (family.parts.of(name) == "projector") == projector
        ]
        groups += [
            {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": cfg.weight_decay, "lr": lr},
            {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0, "lr": lr},
        ]
    return [group for group in groups if group["params"]]

"""Fully sharded data parallelism (FSDP2, `train.sharding: fsdp`) for the train job: each process keeps
1/N of the weights, gradients and optimizer state, so a 7B full fine-tune fits where a replica per GPU
(DDP) does not. Three steps of one life: `shard` the model before the optimizer is made, save and load
its checkpoint as shards (torch.distributed.checkpoint: each process writes and reads its own), and
gather the `unsharded` model on rank 0 at the end, for save_student.

Precision is left to the training loop: the weights are gathered in the dtype they are stored in and
the loop's autocast does the rest, as in one process (no MixedPrecisionPolicy), so a sharded run takes
the steps of one process up to the order of floating-point sums."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from peft import PeftModel, get_peft_model
from torch.distributed.checkpoint import DefaultLoadPlanner
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard

# A LoRA run saves its adapters only: the frozen weights are those of the input model, and stay so.
_TRAINED = StateDictOptions(ignore_frozen_params=True)
_FROZEN_KEPT = StateDictOptions(ignore_frozen_params=True, strict=False)


def shard(model: torch.nn.Module) -> torch.nn.Module:
    """Shard `model` in place over all processes: each block the model names as a unit
    (`_no_split_modules`: the language model's decoder layers, the vision tower's layers) on its own,
    so only one block is gathered at a time, then the root (embeddings, projector, head)."""
    device = next(model.parameters()).device
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    blocks = set(_base(model)._no_split_modules or ())
    for module in model.modules():
        if type(module).__name__ in blocks:
            fully_shard(module, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def is_sharded(model: torch.nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def save(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Every process writes its shards of the trained weights and their optimizer state to `folder`
    (a collective call: all processes make it)."""
    weights, moments = get_state_dict(model, optimizer, options=_TRAINED)
    dcp.save({"model": weights, "optimizer": moments}, checkpoint_id=folder)


def load(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Read this process's shards from `folder` into the model and optimizer (collective). Weights that
    never get a gradient (LLaVA leaves the vision tower's last layers unused) have no optimizer state in
    the checkpoint; get_state_dict gives them a zero one, which stays unused, hence the partial load."""
    weights, moments = get_state_dict(model, optimizer, options=_TRAINED)
    state = {"model": weights, "optimizer": moments}
    dcp.load(state, checkpoint_id=folder, planner=DefaultLoadPlanner(allow_partial_load=True))
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"], options=_FROZEN_KEPT
    )


def unsharded(model: torch.nn.Module) -> torch.nn.Module | None:
    """The whole model as a plain module on rank 0's CPU (None on the others): its weights gathered
    (a collective call) into a copy built on the meta device, so no process ever holds two models.
    Buffers are not sharded; those outside the state dict (rotary frequencies) are copied over."""
    weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() != 0:
        return None
    with torch.device("meta"):
        plain = _empty_like(model)
    plain.load_state_dict(weights, assign=True)
    for name, buffer in model.named_buffers():
        owner, _, leaf = name.rpartition(".")
        if plain.get_buffer(name).is_meta:
            plain.get_submodule(owner)._buffers[leaf] = buffer.detach().cpu()
    left = [name for name, tensor in [*plain.named_parameters(), *plain.named_buffers()] if tensor.is_meta]
    if left:
        raise RuntimeError(f"gathering the sharded model left {len(left)} tensors without values, e.g. {left[:3]}")
    return plain


def _base(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model, under peft's wrapper for a LoRA run."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def _empty_like(model: torch.nn.Module) -> torch.nn.Module:
    """A model of the same classes and configuration as `model` (before sharding: fully_shard swaps
    each sharded module's class for a subclass of FSDPModule), with LoRA adapters where it has them."""
    if isinstance(model, PeftModel):
        return get_peft_model(_empty_like(model.get_base_model()), model.peft_config[model.active_adapter])
    cls = next(c for c in type(model).__mro__ if not issubclass(c, FSDPModule))
    return cls._from_config(model.config, dtype=model.dtype)

"""Training checkpoints, so that a run killed by preemption or a time limit resumes instead of
starting over: the trainable weights, optimizer, schedule, progress and every process's random state,
saved atomically, and matched to the run they belong to by a fingerprint. A sharded model
(dataengine.train.sharding) keeps its weights and optimizer state as shards in a folder beside the file,
which names that folder: the file, replaced last, is what commits a checkpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from dataengine.train import distributed, sharding

CHECKPOINT_FILE = "state.pt"
SHARDS = "shards-"  # + the step: the folder of a sharded model's weights and optimizer state

log = logging.getLogger("dataengine")


class TrainingInterrupted(RuntimeError):
    """SIGTERM stopped fine_tune; its state is in the checkpoint (if one was asked for)."""


def checkpoint_dir_for(out_dir: Path | str) -> Path:
    """`<out_dir>.ckpt` beside a model folder: outside the folder, because Snakemake deletes a
    `directory()` output before it reruns the job, and never itself a loadable model folder."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".ckpt")


def fingerprint(model: torch.nn.Module, records: Sequence, cfg, seed: int, processes: int) -> str:
    """What a checkpoint must match to be resumed: config, seed, number of processes (each has its own
    random state), the records, and a cheap sample of the starting weights (the first values of every
    tensor), so a retrained input model is not mixed in."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "gradient_checkpointing"}  # same weights
    digest = hashlib.sha256(json.dumps([settings, seed, processes], sort_keys=True).encode())
    for record in records:
        digest.update(json.dumps([str(record.image), record.prompt, record.target, record.follow_ups]).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().flatten()[:64].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def save(folder: Path, fingerprint: str, progress: dict, trained, optimizer, schedule, steps: int) -> None:
    """Trainable weights (for LoRA only the adapters), optimizer, schedule, progress and every process's
    RNG state, written by rank 0 to a temp file and renamed into place so a kill during the save leaves
    the previous checkpoint. Every process calls it: they hand their RNG state to rank 0, and a sharded
    model's processes each write their shards first, to a new folder that the file then names."""
    rng = distributed.gather(
        {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None}
    )
    state = {"fingerprint": fingerprint, "progress": progress, "schedule": schedule.state_dict(), "rng": rng}
    if sharding.is_sharded(trained):
        state["shards"] = f"{SHARDS}{progress['step']:07d}"
        sharding.save(folder / state["shards"], trained, optimizer)
    elif distributed.is_main():
        state["weights"] = {name: p.detach().cpu() for name, p in trained.named_parameters() if p.requires_grad}
        state["optimizer"] = optimizer.state_dict()
    if not distributed.is_main():
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{CHECKPOINT_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, folder / CHECKPOINT_FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)
    for old in folder.glob(f"{SHARDS}*"):  # earlier checkpoints' shards, and any a kill left half written
        if old.name != state.get("shards"):
            shutil.rmtree(old)
    loss = f", loss {progress['log_rows'][-1]['loss']:.4f}" if progress["log_rows"] else ""
    log.info("checkpoint: step %d/%d%s -> %s", progress["step"], steps, loss, folder)


def resume(folder: Path, fingerprint: str, trained, optimizer, schedule) -> dict | None:
    """Load a matching checkpoint into the model, optimizer, schedule and this process's RNG, and
    return its progress."""
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        raise ValueError(f"cannot read the training checkpoint {path} ({reason}); delete it to start over") from None
    if state.get("fingerprint") != fingerprint:
        log.warning("ignoring the checkpoint %s: it belongs to another run (model, data, config or seed differ)", path)
        return None
    if "shards" in state:
        sharding.load(folder / state["shards"], trained, optimizer)
    else:
        params = {name: p for name, p in trained.named_parameters() if p.requires_grad}
        with torch.no_grad():
            for name, value in state["weights"].items():
                params[name].copy_(value)
        optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    rng = state["rng"][distributed.rank()]
    torch.set_rng_state(rng["cpu"])
    if rng["cuda"] is not None:
        torch.cuda.set_rng_state(rng["cuda"])
    log.info("resuming from step %d (checkpoint %s)", state["progress"]["step"], path)
    return state["progress"]

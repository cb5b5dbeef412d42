"""Fine-tuning the student (full or LoRA): one iteration's round (new samples plus replay, or the
base data plus every engine sample), the training loop with its streamed batches, and the memory a
step needs. What a record is and how it becomes tokens is in dataengine.train.records; checkpoints that
let a killed run resume are in dataengine.train.checkpoint."""

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel, ProcessorMixin, get_cosine_schedule_with_warmup

from dataengine.core.config import check_section, defaults, runtime_keys
from dataengine.core.joblog import progress
from dataengine.core.streaming import stream
from dataengine.model.families import family_of
from dataengine.model.inputs import IGNORE_INDEX, on_device
from dataengine.model.student import enable_activation_checkpointing
from dataengine.model.trainable import check_trainable, freeze_vision, lora_modules, param_groups, with_lora
from dataengine.train import checkpoint, distributed
from dataengine.train.records import Chained, TrainBatch, TrainRecord, sample_views

HALF_PRECISION = (torch.bfloat16, torch.float16)
LENGTH_SAMPLE = 512  # records tokenized to find the longest sequence, for gradient_checkpointing "auto"
AUTO_CHECKPOINTING_SHARE = 0.85  # "auto" keeps activations when the estimated peak is below this share of the GPU
# Batches whose records group_by_length sorts together. In the tiny caption stage (batches of 32) a
# batch pads to 75 tokens on average in random order, to 57 with 8 (55 with 20, 55 with 50), for
# 54 real: most of the saving with the least change to the order.
LENGTH_GROUP_BATCHES = 8
# Records whose sizes differ by less than this many characters (~6 tokens) are not sorted apart, so
# short answers that differ in a letter or two (red, blue, yellow) still mix in every batch; the
# caption stage keeps its saving.
LENGTH_BUCKET_CHARS = 32

log = logging.getLogger("dataengine")


# The schema is the one source of defaults and allowed values (dataengine.core.config).
_DEFAULTS = defaults("train")
# Keys of the train section that a round (train_round) reads; the rest configure the optimisation.
ROUND_KEYS = ("views", "replay", "epochs", "processes", "nodes", "regime", "base_data")


@dataclass(frozen=True)
class LoraSettings:
    r: int = _DEFAULTS["lora"]["r"]
    alpha: int = _DEFAULTS["lora"]["alpha"]
    dropout: float = _DEFAULTS["lora"]["dropout"]
    projector: str = _DEFAULTS["lora"]["projector"]  # "adapt" (LoRA on its layers) or "full"
    # Leaf names of the language model's linear layers to adapt; the projector's and the vision
    # tower's are the family's (dataengine.model.families).
    target_modules: tuple[str, ...] = tuple(_DEFAULTS["lora"]["target_modules"])


LOSS_ROWS = 50


@dataclass(frozen=True)
class TrainConfig:
    method: str = _DEFAULTS["method"]
    steps: int = _DEFAULTS["steps"]
    batch_size: int = _DEFAULTS["batch_size"]
    lr: float = _DEFAULTS["lr"]
    warmup_ratio: float = _DEFAULTS["warmup_ratio"]
    weight_decay: float = _DEFAULTS["weight_decay"]
    # Recompute activations in backward instead of keeping them: True, False, or "auto", which keeps
    # them when the estimated peak (training_peak_bytes) fits the GPU. The weights come out the same
    # either way, so a checkpoint resumes across a change of it.
    gradient_checkpointing: bool | str = _DEFAULTS["gradient_checkpointing"]
    max_length: int | None = _DEFAULTS["max_length"]  # tokens kept of a sequence, image tokens included
    group_by_length: bool = _DEFAULTS["group_by_length"]  # batches of records of similar length
    projector_lr: float | None = _DEFAULTS["projector_lr"]  # None: lr
    log_every: int | None = None  # steps per row of the loss log; None: about LOSS_ROWS rows in all
    sharding: str = _DEFAULTS["sharding"]  # with several processes: a replica each (ddp) or shards (fsdp)
    vision_tower: str = _DEFAULTS["vision_tower"]  # frozen, full, or lora (adapters, with method lora)
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self):
        """The values the schema allows for the train section; a ConfigError names the bad key."""
        if self.log_every is None:  # a curve of a few dozen points, however long the run
            object.__setattr__(self, "log_every", max(1, self.steps // LOSS_ROWS))
        if self.log_every < 1:
            raise ValueError(f"log_every must be positive, got {self.log_every}")
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _DEFAULTS}
        lora = {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.lora).items() if k in _DEFAULTS["lora"]
        }
        check_section("train", {**settings, "lora": lora}, "TrainConfig")
        if self.vision_tower == "lora" and self.method != "lora":
            raise ValueError("train.vision_tower lora needs train.method lora (adapters on a fully trained model)")

    @classmethod
    def from_config(cls, section: dict) -> "TrainConfig":
        """From a train section ({method, steps, ..., lora: {r, alpha, dropout, target_modules}}); the
        keys of a round (ROUND_KEYS) are left to train_round, those that only change how a job runs
        (report_to) to the job; any other key is an error."""
        section = {k: v for k, v in section.items() if k not in ROUND_KEYS and k not in runtime_keys("train")}
        lora = dict(section.pop("lora", None) or {})
        _check_keys(section, cls, "train config")
        _check_keys(lora, LoraSettings, "train config 'lora'")
        if "target_modules" in lora:
            lora["target_modules"] = tuple(lora["target_modules"])
        return cls(**section, lora=LoraSettings(**lora))


def _check_keys(mapping: dict, cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = set(mapping) - known
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in {where}; known: {sorted(known)}")


def train_round(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    new: list[dict],
    earlier: list[dict],
    image_root: Path,
    cfg: dict,
    iteration: int,
    seed: int,
    checkpoint_dir: Path | None = None,
    adapter_dir: Path | None = None,
    loader_workers: int = 0,
    base: Sequence[TrainRecord] = (),
    on_log: Callable[[dict[str, float], int], None] | None = None,
) -> tuple[PreTrainedModel, dict]:
    """One iteration's fine-tuning on the engine's samples, each in the paper's `views`, for `steps`,
    or `epochs` over the records when set (the paper's recipe is one epoch). `regime` incremental:
    this iteration's accepted samples (`new`) plus `replay` drawn from the earlier iterations'
    (`earlier`); from_start: the `base` records (LLaVA's instruction data) then every engine sample so
    far, new and earlier, as the paper's v2 did. Returns the model and the train log (how many new,
    replayed, base and record sequences; fine_tune's log)."""
    rng = np.random.default_rng([seed, iteration])
    if cfg.get("regime", "incremental") == "from_start":
        new, replay = [*earlier, *new], []
    else:
        replay = [earlier[i] for i in sorted(rng.choice(len(earlier), min(cfg["replay"], len(earlier)), replace=False))]
    records = Chained([base, [r for s in new + replay for r in sample_views(s, image_root, cfg["views"], rng)]])
    train_log = {
        "new_samples": len(new),
        "replay_samples": len(replay),
        "base_records": len(base),
        "records": len(records),
        "replayed_from": {str(i): n for i, n in sorted(Counter(s["iteration"] for s in replay).items())},
    }
    if not records:
        return model, train_log
    settings = TrainConfig.from_config(cfg)
    if cfg.get("epochs"):
        settings = replace(settings, steps=max(1, math.ceil(cfg["epochs"] * len(records) / settings.batch_size)))
    model, fit_log = fine_tune(
        model,
        processor,
        records,
        settings,
        seed=seed + iteration,
        checkpoint_dir=checkpoint_dir,
        adapter_dir=adapter_dir,
        loader_workers=loader_workers,
        on_log=on_log,
    )
    return model, {**train_log, **fit_log}


def fine_tune(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    records: Sequence[TrainRecord],
    cfg: TrainConfig,
    seed: int,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int | None = None,
    adapter_dir: Path | None = None,
    loader_workers: int = 0,
    on_log: Callable[[dict[str, float], int], None] | None = None,
) -> tuple[PreTrainedModel | None, dict]:
    """Train `model` in place on the records (loss on target tokens + EOS only) and return it as a plain
    HF model (LoRA merged back) with a log of the loss per logging step and the speed.
    Same seed -> same weights; records are drawn in seeded shuffled epochs, and each step's images are
    read when it comes (by `loader_workers` processes), so memory does not grow with the records.
    A bfloat16 or float16 model runs under autocast: LoRA's float32 adapters then multiply in the
    model's precision too, as in LLaVA's recipe (DeepSpeed bf16).

    With `checkpoint_dir`, the training state is saved there every `checkpoint_every` steps (default:
    a tenth of the run), at the end, and when SIGTERM arrives (which then raises TrainingInterrupted
    after the step in flight). A later call with the same model, records, config and seed resumes from
    it and ends with the same weights and log as an uninterrupted run. The caller deletes the folder
    once the model is saved; a checkpoint of another run is ignored. With `adapter_dir`, a LoRA run
    also saves its adapter there (peft format) before merging it. `on_log` gets each logged step's loss,
    learning rate and samples per second since the last one (dataengine.core.tracking), on rank 0.

    Inside a process group (dataengine.train.distributed.launch) each process computes its share of every
    batch and the gradients are averaged, so the steps are those of one process up to floating-point
    order; rank 0 alone writes checkpoints and the adapter, and every process returns the model, except
    under `sharding: fsdp`, where it is gathered on rank 0 (on its CPU) and the others return None."""
    if not records:
        raise ValueError("fine_tune got no training records")
    world = distributed.world_size()
    if cfg.batch_size < world:
        raise ValueError(f"batch_size {cfg.batch_size} cannot be shared among {world} processes")
    family = family_of(model)
    check_trainable(model, family, cfg)
    every = checkpoint_every or max(1, cfg.steps // 10)
    fingerprint = checkpoint.fingerprint(model, records, cfg, seed, world)
    device = model.device
    build = TrainBatch(processor, family, records, cfg.max_length)
    checkpointing = _checkpointing_wanted(model, build, cfg)
    if checkpointing:
        enable_activation_checkpointing(model)
    precision = torch.autocast(device.type, dtype=model.dtype, enabled=model.dtype in HALF_PRECISION)

    stop = threading.Event()  # set by SIGTERM: the step in flight finishes and the state is saved first
    with torch.random.fork_rng(), distributed.on_sigterm(stop.set):  # dropout draws from the global generator
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        trained = with_lora(model, family, cfg) if cfg.method == "lora" else freeze_vision(model, family, cfg)
        trained.train()
        if world > 1:  # the same start everywhere, then dropout masks that differ between processes
            torch.manual_seed(int(np.random.SeedSequence([seed, distributed.rank()]).generate_state(1)[0]))
        replica = distributed.wrap(trained, cfg.sharding)
        optimizer = torch.optim.AdamW(param_groups(trained, family, cfg), lr=cfg.lr, betas=(0.9, 0.98))
        schedule = get_cosine_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * cfg.steps), cfg.steps)
        # The data order is a function of the seed alone: a resumed run recomputes it and skips ahead.
        order = _shuffled_epochs(len(records), cfg.steps * cfg.batch_size, generator)
        if cfg.group_by_length:
            order = length_grouped(order, records, cfg.batch_size, generator)
        done = {"step": 0, "log_rows": [], "window": [], "seconds": 0.0}  # a checkpoint's, when resumed
        if checkpoint_dir is not None:
            done = checkpoint.resume(Path(checkpoint_dir), fingerprint, trained, optimizer, schedule) or done
        resumed_from, log_rows, window = done["step"], done["log_rows"], done["window"]
        steps = range(resumed_from, cfg.steps)
        shares = [distributed.shard(order[s * cfg.batch_size : (s + 1) * cfg.batch_size].tolist()) for s in steps]
        batches = progress(
            stream(build, shares, loader_workers, device),
            desc=f"train ({cfg.method})",
            unit="step",
            total=cfg.steps,
            initial=resumed_from,
        )
        start = time.perf_counter() - done["seconds"]
        logged = (time.perf_counter(), resumed_from)  # when and at which step the last row was logged
        for batch, step in zip(batches, steps, strict=True):  # batches first: its bar reaches the end and closes
            # Tokens the whole batch adds to the loss: its mean is over all of them, on any process.
            (loss_tokens,) = distributed.all_sum([float((batch["labels"] != IGNORE_INDEX).sum())])
            with precision:
                loss = replica(  # this process's share of the batch's mean loss
                    **on_device(batch, device, model.dtype),
                    num_items_in_batch=max(1, int(loss_tokens)),  # a batch cut to prompts alone adds nothing
                ).loss
            optimizer.zero_grad(set_to_none=True)
            (loss * world).backward()  # the processes' gradients are averaged: this makes them add up
            torch.nn.utils.clip_grad_norm_(trained.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            batch_loss, stops = distributed.all_sum([loss.item(), stop.is_set()])  # all stop at the same step
            window.append(batch_loss)
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                log_rows.append({"step": step + 1, "loss": float(np.mean(window)), "lr": schedule.get_last_lr()[0]})
                batches.set_postfix(loss=f"{log_rows[-1]['loss']:.4f}", refresh=False)
                window = []
                if on_log is not None and distributed.is_main():
                    now = time.perf_counter()
                    speed = (step + 1 - logged[1]) * cfg.batch_size / max(now - logged[0], 1e-9)
                    row = log_rows[-1]
                    on_log({"train/loss": row["loss"], "train/lr": row["lr"], "train/samples_per_s": speed}, step + 1)
                    logged = (now, step + 1)
            if checkpoint_dir is not None and ((step + 1) % every == 0 or step + 1 == cfg.steps or stops):
                state = {"step": step + 1, "log_rows": log_rows, "window": window}
                state["seconds"] = time.perf_counter() - start
                checkpoint.save(Path(checkpoint_dir), fingerprint, state, trained, optimizer, schedule, cfg.steps)
            if stops:
                where = f"; resume from {checkpoint_dir}" if checkpoint_dir is not None else ""
                raise checkpoint.TrainingInterrupted(f"SIGTERM after step {step + 1} of {cfg.steps}{where}")
        seconds = time.perf_counter() - start
    trained = distributed.whole(trained)  # sharded: rank 0 alone gets the model, the others None
    if cfg.method == "lora" and trained is not None:
        if adapter_dir is not None and distributed.is_main():  # the adapter alone, for serving or stacking
            trained.save_pretrained(adapter_dir)
        trained = trained.merge_and_unload()
    fit_log = {
        "method": cfg.method,
        "seed": seed,
        "records": len(records),
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "processes": world,
        "device": model.device.type,  # cuda: the report counts seconds x processes as GPU hours
        "gradient_checkpointing": checkpointing,
        "samples_seen": cfg.steps * cfg.batch_size,
        "resumed_from_step": resumed_from,
        "seconds": round(seconds, 3),
        "samples_per_s": round(cfg.steps * cfg.batch_size / seconds, 1),
        "loss": log_rows,
    }
    return None if trained is None else trained.eval(), fit_log


def _checkpointing_wanted(model: PreTrainedModel, build: TrainBatch, cfg: TrainConfig) -> bool:
    """cfg.gradient_checkpointing, with "auto" decided from the longest sequence of a sample of the
    records against the GPU's memory (never on a CPU, where host memory is the limit)."""
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing
    if model.device.type != "cuda":
        return False
    every = max(1, len(build.records) // LENGTH_SAMPLE)
    sample = list(range(0, len(build.records), every))[:LENGTH_SAMPLE]
    longest = build(sample)["input_ids"].shape[1]
    tokens = math.ceil(cfg.batch_size / distributed.world_size()) * longest
    needed = training_peak_bytes(model, tokens, cfg)
    total = torch.cuda.get_device_properties(model.device).total_memory
    wanted = needed > AUTO_CHECKPOINTING_SHARE * total
    log.info(
        "activation checkpointing %s: estimated peak %.1f GiB without it, the GPU has %.1f GiB",
        "on" if wanted else "off",
        needed / 2**30,
        total / 2**30,
    )
    return wanted


def training_peak_bytes(model: PreTrainedModel, tokens: int, cfg: TrainConfig) -> int:
    """Estimated peak memory of a training step over `tokens` tokens without activation checkpointing:
    the weights; the gradients and AdamW moments of what is trained (LoRA adapters are float32, with
    their weights); and per token, the language model's saved activations (per layer 10 x hidden + 4 x
    MLP width values in the model's precision, plus, for LoRA, its float32 dropout inputs: 6 x hidden
    + MLP width) and the logits (model precision, a float32 copy and its gradient). For LLaVA-1.5-7B
    in bfloat16, LoRA r 128 and 16 x 613 tokens it gives 112 GiB (docs/gpu.md has the peak measured)."""
    text = model.config.get_text_config()
    hidden, mlp, layers, vocab = text.hidden_size, text.intermediate_size, text.num_hidden_layers, text.vocab_size
    width = torch.finfo(model.dtype).bits // 8
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    activations = (10 * hidden + 4 * mlp) * width
    if cfg.method == "lora":
        modules = dict(model.named_modules())
        adapters = sum(
            cfg.lora.r * (modules[name].in_features + modules[name].out_features)
            for name in lora_modules(model, family_of(model), cfg)
        )
        optimiser = adapters * 4 * 4  # float32 weights, gradients and two moments
        activations += (6 * hidden + mlp) * 4
    else:
        optimiser = 3 * weights  # gradients and two moments in the weights' precision
    return weights + optimiser + tokens * (layers * activations + vocab * (width + 8))


def _shuffled_epochs(n_records: int, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """Record indices in seeded shuffled epochs, as many as the steps consume."""
    epochs = -(-n_draws // n_records)
    return torch.cat([torch.randperm(n_records, generator=generator) for _ in range(epochs)])[:n_draws]


def length_grouped(
    order: torch.Tensor, records: Sequence[TrainRecord], batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """The drawn order with each window of LENGTH_GROUP_BATCHES batches sorted by record size (in
    buckets of LENGTH_BUCKET_CHARS; the sort is stable, so the shuffle holds within one) and cut
    into batches again, which then come in a seeded random order: a batch holds records of similar
    length, and the data still mixes within a few batches."""
    window = LENGTH_GROUP_BATCHES * batch_size
    grouped = []
    for start in range(0, len(order), window):
        rows = sorted(order[start : start + window].tolist(), key=lambda row: _bucket(records[row].size))
        batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
        for batch in torch.randperm(len(batches), generator=generator).tolist():
            grouped.extend(batches[batch])
    return torch.tensor(grouped, dtype=order.dtype)


def _bucket(size: tuple[bool, int]) -> tuple[bool, int]:
    has_image, characters = size
    return has_image, characters // LENGTH_BUCKET_CHARS

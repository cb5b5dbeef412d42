"""Fine-tuning the student on samples shown in the paper's three views (full or LoRA), with
checkpoints so that a run killed by preemption or a time limit resumes instead of starting over."""

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from tqdm import tqdm
from transformers import PreTrainedModel, ProcessorMixin, get_cosine_schedule_with_warmup

from dataengine import distributed
from dataengine.formats import LETTERS, lettered_prompt, question_prompt
from dataengine.streaming import distinct_images, pixel_values, stream
from dataengine.student import enable_activation_checkpointing, encode_prompts, pad_batch

VIEWS = ("free", "lettered", "shuffled")
IGNORE_INDEX = -100  # label value the HF loss skips
CHECKPOINT_FILE = "state.pt"
HALF_PRECISION = (torch.bfloat16, torch.float16)
LENGTH_SAMPLE = 512  # records tokenized to find the longest sequence, for gradient_checkpointing "auto"
AUTO_CHECKPOINTING_SHARE = 0.85  # "auto" keeps activations when the estimated peak is below this share of the GPU

log = logging.getLogger("dataengine")


@dataclass(frozen=True)
class TrainRecord:
    """One training sequence: the image, the prompt shown with it, the text the model must write."""

    image: Path
    prompt: str
    target: str


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # Leaf names of the linear layers to adapt; only those of the language model and the projector
    # are chosen (the vision tower's names overlap), as in LLaVA's LoRA recipe.
    target_modules: tuple[str, ...] = (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "linear_1", "linear_2",
    )  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    method: str = "full"
    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    log_every: int = 10
    # Recompute activations in backward instead of keeping them: True, False, or "auto", which keeps
    # them when the estimated peak (training_peak_bytes) fits the GPU. The weights come out the same
    # either way, so a checkpoint resumes across a change of it.
    gradient_checkpointing: bool | str = False
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self):
        if self.method not in ("full", "lora"):
            raise ValueError(f"train method must be 'full' or 'lora', got {self.method!r}")
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1:
            raise ValueError(f"steps, batch_size and log_every must be positive: {self}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.gradient_checkpointing not in (True, False, "auto"):
            raise ValueError(f"gradient_checkpointing must be true, false or 'auto', got {self.gradient_checkpointing!r}")

    @classmethod
    def from_dict(cls, config: dict) -> "TrainConfig":
        """From a config mapping such as {method, steps, ..., lora: {r, alpha, dropout, target_modules}}."""
        config = dict(config)
        lora = config.pop("lora", None) or {}
        _check_keys(config, cls, "train config")
        _check_keys(lora, LoraSettings, "train config 'lora'")
        if "target_modules" in lora:
            lora["target_modules"] = tuple(lora["target_modules"])
        return cls(**config, lora=LoraSettings(**lora))


def _check_keys(mapping: dict, cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = set(mapping) - known
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in {where}; known: {sorted(known)}")


def sample_views(sample: dict, image_root: Path, views: Sequence[str], rng: np.random.Generator) -> list[TrainRecord]:
    """The paper's views of one accepted sample: 'free' (question -> short answer), 'lettered'
    (question + options A-D -> letter) and 'shuffled' (options in a new random order -> new letter)."""
    try:
        question, short_answer = sample["instruction"], sample["short_answer"]
        options, letter = list(sample["options"]), sample["choice_answer"]
        image = Path(image_root) / sample["image"]
    except KeyError as error:
        raise KeyError(f"sample {sample.get('id', '?')!r} lacks the field {error}") from None
    if len(options) != len(LETTERS) or letter not in LETTERS:
        raise ValueError(f"sample {sample.get('id', '?')!r}: need {len(LETTERS)} options and a letter, "
                         f"got {options!r} / {letter!r}")  # fmt: skip
    records = []
    for view in views:
        if view == "free":
            records.append(TrainRecord(image, question_prompt(question), short_answer))
        elif view == "lettered":
            records.append(TrainRecord(image, lettered_prompt(question, options), letter))
        elif view == "shuffled":
            order = rng.permutation(len(options))
            shuffled = [options[i] for i in order]
            new_letter = LETTERS[int(np.flatnonzero(order == LETTERS.index(letter))[0])]
            records.append(TrainRecord(image, lettered_prompt(question, shuffled), new_letter))
        else:
            raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    return records


class TrainingInterrupted(RuntimeError):
    """SIGTERM stopped fine_tune; its state is in the checkpoint (if one was asked for)."""


def checkpoint_dir_for(out_dir: Path | str) -> Path:
    """`<out_dir>.ckpt` beside a model folder: outside the folder, because Snakemake deletes a
    `directory()` output before it reruns the job, and never itself a loadable model folder."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".ckpt")


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
) -> tuple[PreTrainedModel, dict]:
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
    also saves its adapter there (peft format) before merging it.

    Inside a process group (dataengine.distributed.launch) each process computes its share of every
    batch and the gradients are averaged, so the steps are those of one process up to floating-point
    order; rank 0 alone writes checkpoints and the adapter, and every process returns the model."""
    if not records:
        raise ValueError("fine_tune got no training records")
    world = distributed.world_size()
    if cfg.batch_size < world:
        raise ValueError(f"batch_size {cfg.batch_size} cannot be shared among {world} processes")
    every = checkpoint_every or max(1, cfg.steps // 10)
    fingerprint = _fingerprint(model, records, cfg, seed, world)
    device = model.device
    build = _TrainBatch(processor, records)
    checkpointing = _checkpointing_wanted(model, build, cfg)
    if checkpointing:
        enable_activation_checkpointing(model)
    precision = torch.autocast(device.type, dtype=model.dtype, enabled=model.dtype in HALF_PRECISION)

    stop = threading.Event()  # set by SIGTERM: the step in flight finishes and the state is saved first
    with torch.random.fork_rng(), distributed.on_sigterm(stop.set):  # dropout draws from the global generator
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        trained = _with_lora(model, cfg.lora) if cfg.method == "lora" else model
        trained.train()
        if world > 1:  # the same start everywhere, then dropout masks that differ between processes
            torch.manual_seed(int(np.random.SeedSequence([seed, distributed.rank()]).generate_state(1)[0]))
        replica = distributed.wrap(trained)
        optimizer = torch.optim.AdamW(_param_groups(trained, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98))
        schedule = get_cosine_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * cfg.steps), cfg.steps)
        # The data order is a function of the seed alone: a resumed run recomputes it and skips ahead.
        order = _shuffled_epochs(len(records), cfg.steps * cfg.batch_size, generator)
        progress = {"step": 0, "log_rows": [], "window": [], "seconds": 0.0}
        if checkpoint_dir is not None:
            progress = _resume(Path(checkpoint_dir), fingerprint, trained, optimizer, schedule) or progress
        resumed_from, log_rows, window = progress["step"], progress["log_rows"], progress["window"]
        steps = range(resumed_from, cfg.steps)
        shares = [distributed.shard(order[s * cfg.batch_size : (s + 1) * cfg.batch_size].tolist()) for s in steps]
        batches = tqdm(stream(build, shares, loader_workers, device), desc=f"train ({cfg.method})", unit="step",
                       total=cfg.steps, initial=resumed_from, disable=None)  # fmt: skip
        start = time.perf_counter() - progress["seconds"]
        for step, batch in zip(steps, batches):
            labels = batch["labels"].to(device, non_blocking=True)
            # Tokens the whole batch adds to the loss: its mean is over all of them, on any process.
            (loss_tokens,) = distributed.all_sum([float((batch["labels"] != IGNORE_INDEX).sum())])
            with precision:
                loss = replica(  # this process's share of the batch's mean loss
                    input_ids=batch["input_ids"].to(device, non_blocking=True),
                    attention_mask=batch["attention_mask"].to(device, non_blocking=True),
                    pixel_values=batch["pixels"].to(device, model.dtype, non_blocking=True)[batch["slots"].to(device)],
                    labels=labels,
                    num_items_in_batch=int(loss_tokens),
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
                window = []
            if checkpoint_dir is not None and ((step + 1) % every == 0 or step + 1 == cfg.steps or stops):
                state = {"step": step + 1, "log_rows": log_rows, "window": window}
                state["seconds"] = time.perf_counter() - start
                _save_checkpoint(Path(checkpoint_dir), fingerprint, state, trained, optimizer, schedule, cfg.steps)
            if stops:
                where = f"; resume from {checkpoint_dir}" if checkpoint_dir is not None else ""
                raise TrainingInterrupted(f"SIGTERM after step {step + 1} of {cfg.steps}{where}")
        seconds = time.perf_counter() - start
    if cfg.method == "lora":
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
        "gradient_checkpointing": checkpointing,
        "samples_seen": cfg.steps * cfg.batch_size,
        "resumed_from_step": resumed_from,
        "seconds": round(seconds, 3),
        "samples_per_s": round(cfg.steps * cfg.batch_size / seconds, 1),
        "loss": log_rows,
    }
    return trained.eval(), fit_log


class _TrainBatch:
    """A step's share of records as padded tensors, made in a loader worker: the pixels of its distinct
    images (float32) and each row's `slots` among them, token ids of prompt + target + EOS (right
    padding) and labels that hide the prompt from the loss."""

    def __init__(self, processor: ProcessorMixin, records: Sequence[TrainRecord]):
        self.processor, self.records = processor, records

    def __call__(self, rows: list[int]) -> dict:
        records = [self.records[row] for row in rows]
        paths, slots = distinct_images([record.image for record in records])
        pixels = pixel_values(self.processor.image_processor, paths)
        sequences, labels = self.encode(records, pixels)
        batch = pad_batch(sequences, self.processor.tokenizer.pad_token_id, "right")
        return {
            "pixels": pixels,
            "slots": slots,
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "labels": pad_batch(labels, IGNORE_INDEX, "right")["input_ids"],
        }

    def encode(self, records: Sequence[TrainRecord], pixels: torch.Tensor) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of prompt + target + EOS, and labels that hide the prompt from the loss."""
        tokenizer = self.processor.tokenizer
        prompts = encode_prompts(self.processor, [record.prompt for record in records], pixels)
        targets = tokenizer([record.target for record in records], add_special_tokens=False)["input_ids"]
        sequences, labels = [], []
        for prompt, target in zip(prompts, targets):
            answer = [*target, tokenizer.eos_token_id]
            sequences.append(prompt + answer)
            labels.append([IGNORE_INDEX] * len(prompt) + answer)
        return sequences, labels


def _checkpointing_wanted(model: PreTrainedModel, build: _TrainBatch, cfg: TrainConfig) -> bool:
    """cfg.gradient_checkpointing, with "auto" decided from the longest sequence of a sample of the
    records against the GPU's memory (never on a CPU, where host memory is the limit)."""
    if cfg.gradient_checkpointing != "auto":
        return cfg.gradient_checkpointing
    if model.device.type != "cuda":
        return False
    sample = build.records[:: max(1, len(build.records) // LENGTH_SAMPLE)][:LENGTH_SAMPLE]
    pixels = pixel_values(build.processor.image_processor, [sample[0].image])
    longest = max(map(len, build.encode(sample, pixels)[0]))
    tokens = math.ceil(cfg.batch_size / distributed.world_size()) * longest
    needed = training_peak_bytes(model, tokens, cfg)
    total = torch.cuda.get_device_properties(model.device).total_memory
    wanted = needed > AUTO_CHECKPOINTING_SHARE * total
    log.info("activation checkpointing %s: estimated peak %.1f GiB without it, the GPU has %.1f GiB",
             "on" if wanted else "off", needed / 2**30, total / 2**30)  # fmt: skip
    return wanted


def training_peak_bytes(model: PreTrainedModel, tokens: int, cfg: TrainConfig) -> int:
    """Estimated peak memory of a training step over `tokens` tokens without activation checkpointing:
    the weights; the gradients and AdamW moments of what is trained (LoRA adapters are float32, with
    their weights); and per token, the language model's saved activations (per layer 10 x hidden + 4 x
    MLP width values in the model's precision, plus, for LoRA, its float32 dropout inputs: 6 x hidden
    + MLP width) and the logits (model precision, a float32 copy and its gradient). For LLaVA-1.5-7B
    in bfloat16, LoRA r 128 and 16 x 613 tokens it gives 112 GiB; 114 GiB was measured on an H200."""
    text = model.config.get_text_config()
    hidden, mlp, layers, vocab = text.hidden_size, text.intermediate_size, text.num_hidden_layers, text.vocab_size
    width = torch.finfo(model.dtype).bits // 8
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    activations = (10 * hidden + 4 * mlp) * width
    if cfg.method == "lora":
        target = _lora_target(cfg.lora)
        adapters = sum(
            cfg.lora.r * (module.in_features + module.out_features)
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and target.fullmatch(name)
        )
        optimiser = adapters * 4 * 4  # float32 weights, gradients and two moments
        activations += (6 * hidden + mlp) * 4
    else:
        optimiser = 3 * weights  # gradients and two moments in the weights' precision
    return weights + optimiser + tokens * (layers * activations + vocab * (width + 8))


def _fingerprint(
    model: PreTrainedModel, records: Sequence[TrainRecord], cfg: TrainConfig, seed: int, processes: int
) -> str:
    """What a checkpoint must match to be resumed: config, seed, number of processes (each has its own
    random state), the records, and a cheap sample of the starting weights (the first values of every
    tensor), so a retrained input model is not mixed in."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "gradient_checkpointing"}  # same weights
    digest = hashlib.sha256(json.dumps([settings, seed, processes], sort_keys=True).encode())
    for record in records:
        digest.update(json.dumps([str(record.image), record.prompt, record.target]).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().flatten()[:64].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _save_checkpoint(folder: Path, fingerprint: str, progress: dict, trained, optimizer, schedule, steps: int) -> None:
    """Trainable weights (for LoRA only the adapters), optimizer, schedule, progress and every process's
    RNG state, written by rank 0 to a temp file and renamed into place so a kill during the save leaves
    the previous checkpoint. Every process calls it: they hand their RNG state to rank 0."""
    rng = distributed.gather(
        {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None}
    )
    if not distributed.is_main():
        return
    state = {
        "fingerprint": fingerprint,
        "progress": progress,
        "weights": {name: p.detach().cpu() for name, p in trained.named_parameters() if p.requires_grad},
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": rng,
    }
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{CHECKPOINT_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, folder / CHECKPOINT_FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("checkpoint: step %d/%d -> %s", progress["step"], steps, folder)


def _resume(folder: Path, fingerprint: str, trained, optimizer, schedule) -> dict | None:
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


def _shuffled_epochs(n_records: int, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """Record indices in seeded shuffled epochs, as many as the steps consume."""
    epochs = -(-n_draws // n_records)
    return torch.cat([torch.randperm(n_records, generator=generator) for _ in range(epochs)])[:n_draws]


def _lora_target(lora: LoraSettings) -> re.Pattern:
    """The linear layers LoRA adapts: those named in `target_modules` inside the language model and
    the projector (the vision tower's names overlap), as in LLaVA's LoRA recipe."""
    names = "|".join(map(re.escape, lora.target_modules))
    return re.compile(rf".*\b(?:language_model|multi_modal_projector)\b.*\.(?:{names})")


def _with_lora(model: PreTrainedModel, lora: LoraSettings) -> PreTrainedModel:
    config = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=_lora_target(lora).pattern
    )
    return get_peft_model(model, config)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only, not on biases and norm scales (the usual AdamW practice)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]

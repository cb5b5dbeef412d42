"""GPU smoke test of the 7B experiment's code path: load a local LLaVA-1.5 folder in bf16, one LoRA
step with the paper's recipe (r 128, alpha 256, lr 1e-4, cosine, warm-up, gradient checkpointing),
merge, then letter scoring and generation with choice extraction on a few items. Under 5 minutes on
one H100 for llava-1.5-7b-hf (most of it loading the weights).

Usage: python bench/gpu_smoke.py --model /path/to/llava-1.5-7b-hf [--steps 2] [--items 16]
Without --model it builds the tiny random LLaVA stand-in and runs the same path (fp32 on a CPU).
Prints one JSON line of timings and results and writes results/bench/gpu_smoke.json.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from PIL import Image

from dataengine.evaluate import metrics, score_items
from dataengine.formats import LETTERS
from dataengine.student import build_tiny_student, load_student, save_student, train_tokenizer
from dataengine.training import LoraSettings, TrainConfig, fine_tune, sample_views

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
QUESTION = "What is the main colour of the picture?"


def make_items(root: Path, n: int, rng: np.random.Generator) -> tuple[list[dict], pl.DataFrame]:
    """Solid-colour pictures asked for their colour: samples to train on, items to score."""
    (root / "images").mkdir(parents=True)
    samples, items = [], []
    for i in range(n):
        colour = COLOURS[i % len(COLOURS)]
        image = f"images/{i}.png"
        Image.new("RGB", (336, 336), colour).save(root / image)
        options = [colour, *rng.choice([c for c in COLOURS if c != colour], 3, replace=False).tolist()]
        options = [options[j] for j in rng.permutation(4)]
        answer = LETTERS[options.index(colour)]
        samples.append({"id": f"s{i}", "instruction": QUESTION, "answer": f"It is {colour}.",
                        "short_answer": colour, "options": options, "choice_answer": answer, "image": image})  # fmt: skip
        items.append({"id": f"b{i}", "image": image, "qtype": 3, "question": QUESTION, "options": options,
                      "answer": answer, "split": "test"})  # fmt: skip
    return samples, pl.DataFrame(items)


def stand_in(folder: Path) -> Path:
    model, processor = build_tiny_student(train_tokenizer([QUESTION, *COLOURS, "It is"]), {}, 64, seed=0)
    return save_student(model, processor, folder / "tiny-llava")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="local HF folder (default: the tiny stand-in)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    dtype = "bfloat16" if cuda else "float32"
    result = {"device": torch.cuda.get_device_name() if cuda else "cpu", "dtype": dtype}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = args.model or stand_in(root)
        samples, items = make_items(root / "data", args.items, np.random.default_rng(0))

        start = time.perf_counter()
        model, processor = load_student(model_dir, dtype=dtype)
        result["load_s"] = round(time.perf_counter() - start, 1)
        result["chat_template"] = bool(getattr(processor, "chat_template", None))

        for method in ("letter", "generate"):  # before training: the base model's own answers
            start = time.perf_counter()
            predictions = score_items(model, processor, items, root / "data", method, args.batch_size)
            scored = metrics(predictions, method)
            result[f"{method}_s"] = round(time.perf_counter() - start, 1)
            result[f"{method}_acc"] = scored["splits"]["test"]["overall"]["acc"]
        result["extraction"] = scored["extraction"]  # which rule read each generated reply

        rng = np.random.default_rng(0)
        records = [r for s in samples for r in sample_views(s, root / "data", ["lettered", "free"], rng)]
        cfg = TrainConfig(method="lora", steps=args.steps, batch_size=args.batch_size, lr=1e-4, warmup_ratio=0.03,
                          log_every=1, lora=LoraSettings(r=128, alpha=256, dropout=0.05))  # fmt: skip
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        model, log = fine_tune(model, processor, records, cfg, seed=0)
        result["lora_train_and_merge_s"] = round(time.perf_counter() - start, 1)
        result["loss"] = [round(row["loss"], 4) for row in log["loss"]]
        if cuda:
            result["train_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        start = time.perf_counter()
        after = metrics(score_items(model, processor, items, root / "data", "letter", args.batch_size), "letter")
        result["letter_after_s"] = round(time.perf_counter() - start, 1)
        result["letter_acc_after"] = after["splits"]["test"]["overall"]["acc"]
    print(json.dumps(result))
    out = Path("results/bench/gpu_smoke.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""`make bench-gpu`: the real-model path's speed through the project's own code, on a GPU.

Builds a 7B-shaped model of a family with random weights on the GPU in bfloat16, so no hub is needed
for a stand-in of the right shape and cost (`--model DIR` times a real local folder instead):
`--family llava` is LLaVA-1.5-7B (CLIP-L/336 + Vicuna-7B sizes, 7.06 B parameters, vocab 32064,
LLaVA-1.5's chat template), `--family qwen2_5_vl` is Qwen2.5-VL-7B (its ViT at 448 px, 256 image
tokens, and Qwen2-7B's sizes with grouped KV heads, vocab 152064). It measures:

- letter scoring (`evaluate.score_items`, batch 16) over items on distinct images, each row with its
  own image (`--questions-per-image` questions per image says what the data is; SEED-Bench has ~1.4,
  MMBench's circular copies 4);
- generation with choice extraction (16 new tokens) and a naive per-item harness (the processor on
  one image and prompt, `generate(max_new_tokens=1)`, batch 1), the baseline the batched path beats;
- LoRA r 128 / alpha 256 training (`training.fine_tune`, batch 16, the paper's three views), its peak
  GPU memory and MFU (model FLOPs: 4 x parameters x tokens per sample, forward and the input
  gradients of frozen weights, over the GPU's dense bf16 peak);
- saving the merged model and loading it back.

`--shape tiny` runs the same code on a tiny model in seconds (bfloat16 on a CPU): the test suite does,
so this script cannot rot. Writes results/bench/gpu-<family>.json {"device", "family", "letter_items_per_s",
"generate_items_per_s", "naive_items_per_s", "lora_samples_per_s", "peak_gib", "mfu", "save_s",
"load_s", ...} and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from PIL import Image

from dataengine.core.formats import LETTERS, lettered_prompt
from dataengine.eval.evaluate import score_items
from dataengine.model.families import family_of
from dataengine.model.families.llava import LLAVA_15_CHAT_TEMPLATE
from dataengine.model.student import build_tiny_student, load_student, save_student
from dataengine.train.records import TrainBatch, sample_views
from dataengine.train.training import LoraSettings, TrainConfig, fine_tune

REPO = Path(__file__).resolve().parent.parent
TINY = {
    "patch_size": 16,
    "vision_hidden": 32,
    "vision_mlp": 64,
    "vision_layers": 1,
    "vision_heads": 2,
    "text_hidden": 64,
    "text_mlp": 128,
    "text_layers": 2,
    "text_heads": 2,
    "max_positions": 512,
}
SHAPES = {
    # LLaVA-1.5-7B: CLIP ViT-L/14 at 336 px and Vicuna-7B (docs/gpu.md)
    ("llava", "7b"): {
        "image_size": 336,
        "vocab": 32064,
        "arch": {
            "patch_size": 14,
            "vision_hidden": 1024,
            "vision_mlp": 4096,
            "vision_layers": 24,
            "vision_heads": 16,
            "text_hidden": 4096,
            "text_mlp": 11008,
            "text_layers": 32,
            "text_heads": 32,
            "max_positions": 4096,
        },
    },
    # Qwen2.5-VL-7B-Instruct's config.json: a 32-layer ViT of 1280 in patches of 14 (the tiny builder halves
    # patch_size), merged 2 x 2 into Qwen2-7B (28 layers of 3584, 4 KV heads); 448 px gives 256 image tokens.
    ("qwen2_5_vl", "7b"): {
        "image_size": 448,
        "vocab": 152064,
        "arch": {
            "patch_size": 28,
            "vision_hidden": 1280,
            "vision_mlp": 3420,
            "vision_layers": 32,
            "vision_heads": 16,
            "text_hidden": 3584,
            "text_mlp": 18944,
            "text_layers": 28,
            "text_heads": 28,
            "text_kv_heads": 4,
            "max_positions": 32768,
        },
    },
    ("llava", "tiny"): {"image_size": 64, "vocab": None, "arch": TINY},
    ("qwen2_5_vl", "tiny"): {"image_size": 64, "vocab": None, "arch": TINY},
}
DENSE_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}  # vendor peaks, for MFU
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
QUESTION = "What is the main colour of the picture?"


def stand_in(family: str, shape: str, device: str) -> tuple:
    """A randomly initialised `family` model of `shape`, built on `device` in bfloat16, with its family's
    chat template (LLaVA-1.5's for llava) and the real model's vocabulary size."""
    spec = SHAPES[family, shape]
    corpus = [QUESTION, *COLOURS, "USER: ASSISTANT:", "It is"]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model, processor = build_tiny_student(corpus, spec["arch"], spec["image_size"], seed=0, family=family)
            if spec["vocab"]:
                model.resize_token_embeddings(spec["vocab"], mean_resizing=False)
    finally:
        torch.set_default_dtype(previous)
    if family == "llava":
        processor.chat_template = LLAVA_15_CHAT_TEMPLATE
    return model.eval(), processor


def make_data(root: Path, images: int, per_image: int, size: int) -> tuple[pl.DataFrame, list[dict]]:
    """Colour questions on `images` distinct pictures (a colour under noise, so each decodes like a
    photo), `per_image` questions each with the options in another order; the samples to train on."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    items, samples = [], []
    for i in range(images):
        rng = np.random.default_rng(i)
        colour = COLOURS[i % len(COLOURS)]
        base = np.array(Image.new("RGB", (1, 1), colour).getpixel((0, 0)))
        noise = rng.integers(-30, 30, (size, size, 3))
        image = f"images/{i:06d}.jpg"
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(root / image, quality=90)
        others = [c for c in COLOURS if c != colour]
        for q in range(per_image):
            options = [colour, *rng.choice(others, 3, replace=False).tolist()]
            options = [options[j] for j in rng.permutation(4)]
            answer = LETTERS[options.index(colour)]
            items.append(
                {
                    "id": f"q{i}-{q}",
                    "image": image,
                    "qtype": 3,
                    "question": QUESTION,
                    "options": options,
                    "answer": answer,
                    "split": "test",
                }
            )
            samples.append(
                {
                    "instruction": QUESTION,
                    "answer": f"It is {colour}.",
                    "short_answer": colour,
                    "options": options,
                    "choice_answer": answer,
                    "image": image,
                }
            )
    return pl.DataFrame(items), samples


def timed(fn, device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def naive_items_per_s(model, processor, items: pl.DataFrame, root: Path) -> float:
    """What a per-item harness does: the processor on one image and prompt, one generated token."""
    family = family_of(model)

    def run():
        for row in items.iter_rows(named=True):
            with Image.open(root / row["image"]) as image:
                prompt = family.prompt(processor, lettered_prompt(row["question"], row["options"]))
                inputs = processor(
                    images=family.images_argument([image.convert("RGB")]),
                    text=[prompt],
                    return_tensors="pt",
                    add_special_tokens=family.adds_bos(processor, prompt),
                )
            inputs = {
                k: v.to(model.device, model.dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()
            }
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=1, do_sample=False)

    _, seconds = timed(run, model.device)
    return items.height / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--family", choices=sorted({family for family, _ in SHAPES}), default="llava")
    parser.add_argument("--shape", choices=sorted({shape for _, shape in SHAPES}), default="7b" if cuda else "tiny")
    parser.add_argument("--model", type=Path, help="a local HF model folder to time instead of the stand-in")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--questions-per-image", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--generate-items", type=int, default=128)
    parser.add_argument("--naive-items", type=int, default=64)
    parser.add_argument("--train-samples", type=int, default=160, help="samples of LoRA training (3 views each)")
    parser.add_argument("--gradient-checkpointing", choices=["auto", "true", "false"], default="auto")
    parser.add_argument("--loader-workers", type=int, default=min(8, (os.cpu_count() or 2) - 1))
    parser.add_argument("--skip-save", action="store_true", help="no save/load timing (saves disk)")
    parser.add_argument("--out", type=Path, help="default results/bench/gpu-<family>.json, which plan-cost reads")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name() if cuda else "cpu"
    result = {
        "device": name,
        "dtype": "bfloat16",
        "shape": "model" if args.model else args.shape,
        "family": family_of_args(args),
        "batch_size": args.batch_size,
        "questions_per_image": args.questions_per_image,
        "loader_workers": args.loader_workers,
    }

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.model:
            model, processor = load_student(args.model, dtype="bfloat16")
        else:
            model, processor = stand_in(args.family, args.shape, device.type)
        size = SHAPES.get((result["family"], args.shape), SHAPES["llava", "7b"])["image_size"]
        result["params"] = sum(p.numel() for p in model.parameters())
        items, samples = make_data(root / "data", args.images, args.questions_per_image, size)
        data = root / "data"

        score = lambda table, method: score_items(  # noqa: E731
            model, processor, table, data, method, args.batch_size, loader_workers=args.loader_workers
        )
        score(items.head(2 * args.batch_size), "letter")  # warm-up: kernels chosen, allocator grown
        predictions, seconds = timed(lambda: score(items, "letter"), device)
        result["letter_items_per_s"] = round(items.height / seconds, 1)
        result["letter_acc"] = round(100 * float(predictions["correct"].mean()), 1)
        generated = items.head(args.generate_items)
        _, seconds = timed(lambda: score(generated, "generate"), device)
        result["generate_items_per_s"] = round(generated.height / seconds, 1)
        result["naive_items_per_s"] = round(naive_items_per_s(model, processor, items.head(args.naive_items), data), 1)

        rng = np.random.default_rng(0)
        records = [
            r
            for s in samples[: args.train_samples]
            for r in sample_views(s, data, ["free", "lettered", "shuffled"], rng)
        ]
        checkpointing = {"auto": "auto", "true": True, "false": False}[args.gradient_checkpointing]
        cfg = TrainConfig(
            method="lora",
            steps=max(1, len(records) // args.batch_size),
            batch_size=args.batch_size,
            lr=1e-4,
            warmup_ratio=0.03,
            log_every=5,
            gradient_checkpointing=checkpointing,
            lora=LoraSettings(r=128, alpha=256, dropout=0.05),
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        model, log = fine_tune(model, processor, records, cfg, seed=0, loader_workers=args.loader_workers)
        result["lora_samples_per_s"] = log["samples_per_s"]
        result["loss"] = [round(row["loss"], 3) for row in log["loss"]]
        result["gradient_checkpointing"] = log["gradient_checkpointing"]
        result["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1) if cuda else None
        sample = TrainBatch(processor, family_of(model), records)(list(range(min(len(records), 64))))
        tokens = sample["attention_mask"].sum(-1).float().mean().item()  # prompt, image, reply, end of turn
        peak = next((tflops for gpu, tflops in DENSE_BF16_TFLOPS.items() if gpu in name), None)
        model_flops = 4 * result["params"] * tokens * log["samples_per_s"]
        result["tokens_per_sample"] = round(float(tokens), 1)
        result["mfu"] = round(model_flops / (peak * 1e12), 3) if peak else None

        if not args.skip_save:
            _, seconds = timed(lambda: save_student(model, processor, root / "saved"), device)
            result["save_s"] = round(seconds, 3)
            del model
            _, seconds = timed(lambda: load_student(root / "saved", dtype="bfloat16"), device)
            result["load_s"] = round(seconds, 3)

    print(json.dumps(result))
    out = args.out or REPO / "results" / "bench" / f"gpu-{result['family']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def family_of_args(args) -> str:
    """The family timed: the model folder's, or the stand-in's."""
    if args.model:
        from dataengine.model.families import family_of_folder

        return family_of_folder(args.model).name
    return args.family


if __name__ == "__main__":
    sys.exit(main())

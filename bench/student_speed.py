"""Training and evaluation speed of the tiny student at the notes' sizes (64 px, patch 16).

Usage: python bench/student_speed.py [--threads 2] [--loader-workers 0]
Synthetic prompts of benchmark-like length (~50 tokens with the 16 image tokens); random images.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from PIL import Image

from dataengine.core.formats import LETTERS
from dataengine.eval.evaluate import score_items
from dataengine.model.student import build_tiny_student
from dataengine.train.records import VIEWS, sample_views
from dataengine.train.training import TrainConfig, fine_tune

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
QUESTION = "what is the colour of the large circle in the top left part of the picture , next to the small square ?"


def make_data(root: Path, n_images: int, rng: np.random.Generator) -> tuple[list[dict], pl.DataFrame]:
    (root / "images").mkdir()
    samples, items = [], []
    for i in range(n_images):
        image = f"images/{i}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / image)
        options = [str(c) for c in rng.choice(COLOURS, 4, replace=False)]
        answer = LETTERS[int(rng.integers(4))]
        samples.append(
            {
                "instruction": QUESTION,
                "short_answer": options[LETTERS.index(answer)],
                "options": options,
                "choice_answer": answer,
                "image": image,
            }
        )
        items.append(
            {
                "id": f"b-{i}",
                "image": image,
                "qtype": 3,
                "question": QUESTION,
                "options": options,
                "answer": answer,
                "split": "test",
            }
        )
    return samples, pl.DataFrame(items)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--loader-workers", type=int, default=0)
    args = parser.parse_args()
    workers = {"loader_workers": args.loader_workers} if args.loader_workers else {}
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        samples, items = make_data(root, args.items, rng)
        model, processor = build_tiny_student([QUESTION, *COLOURS], {}, image_size=64, seed=0)
        records = [r for s in samples for r in sample_views(s, root, VIEWS, rng)]
        cfg = TrainConfig(steps=args.steps, batch_size=32)
        model, log = fine_tune(model, processor, records, cfg, seed=0, **workers)
        print(
            f"train: {log['samples_per_s']} samples/s ({cfg.steps} steps of {cfg.batch_size}, "
            f"{sum(p.numel() for p in model.parameters())} parameters)"
        )
        for method, batch_size in (("option_text", 64), ("letter", 128), ("generate", 128)):
            score_items(model, processor, items.head(batch_size), root, method, batch_size)  # warm-up
            start = time.perf_counter()
            score_items(model, processor, items, root, method, batch_size, **workers)
            seconds = time.perf_counter() - start
            print(f"evaluate {method}: {items.height / seconds:.0f} items/s (incl. image loading)")


if __name__ == "__main__":
    main()

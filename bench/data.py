"""`make bench-data`: host memory and speed of the streaming data path over 2k, 8k and 32k images.

Each figure comes from a fresh process scoring (letter, batch 64) or training (full fine-tuning,
batch 32, 50 steps) a tiny student on N distinct 336-px JPEG images with CLIP-336
preprocessing (resize, centre crop, normalise), one question or record per image: the honest worst
case, where no image is shared. Peak memory is the largest sum of PSS (shared pages counted once)
over the process and its loader workers, sampled every 20 ms. "Today's in-memory speed" is the data
path this one replaced (every image decoded into one tensor before the first batch), run from git
at IN_MEMORY_COMMIT on the same model and images.

Writes results/bench/data.json {"images", "eval_peak_rss_mb", "train_peak_rss_mb",
"eval_items_per_s", "in_memory_items_per_s", "in_memory_peak_rss_mb", "loader_workers", "threads"}
and prints the bar: peak RSS at the most images within 1.3x of the fewest; at 2k images the
streaming path within 10 % of the in-memory speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
IN_MEMORY_COMMIT = "71728fa"  # the last commit whose evaluation decoded every image before the first batch
IMAGE_SIZE = 336
ARCH = {
    "patch_size": 48,
    "vision_hidden": 64,
    "vision_mlp": 128,
    "vision_layers": 2,
    "vision_heads": 4,
    "text_hidden": 64,
    "text_mlp": 128,
    "text_layers": 2,
    "text_heads": 4,
    "max_positions": 256,
}
WORDS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
QUESTION = "What is the main colour of the picture?"


def make_images(folder: Path, n: int) -> None:
    """n distinct JPEGs (noise over a coloured field, so each decodes like a photo), made once."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        base = rng.integers(0, 256, 3)
        noise = rng.integers(-40, 40, (IMAGE_SIZE, IMAGE_SIZE, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=90)


def make_model(folder: Path) -> Path:
    from dataengine.model.student import build_tiny_student, save_student

    if not (folder / "config.json").exists():
        model, processor = build_tiny_student([QUESTION, *WORDS, "It is"], ARCH, IMAGE_SIZE, seed=0)
        save_student(model, processor, folder)
    return folder


class PeakMemory:
    """The largest sum of PSS over this process and its descendants, sampled in a thread."""

    def __init__(self, every_s: float = 0.02):
        self.every_s, self.peak_kb, self._stop = every_s, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(os.getpid())))
            self._stop.wait(self.every_s)


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids += _tree(int(child))
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # the process ended between listing and reading
        pass
    return 0


def child(args: argparse.Namespace) -> None:
    """One measurement, in a fresh process: prints {"peak_rss_mb", "items_per_s"}."""
    import polars as pl
    import torch

    from dataengine.eval.evaluate import score_items
    from dataengine.model.student import load_student

    torch.set_num_threads(args.threads)
    images = [f"{i:06d}.jpg" for i in range(args.images)]
    model, processor = load_student(args.model)
    streaming = "loader_workers" in score_items.__code__.co_varnames
    workers = {"loader_workers": args.workers} if streaming else {}
    with PeakMemory() as memory:
        start = time.perf_counter()
        if args.child == "eval":
            items = pl.DataFrame(
                {
                    "id": [f"q{i}" for i in range(len(images))],
                    "image": images,
                    "qtype": [3] * len(images),
                    "question": [QUESTION] * len(images),
                    "options": [[WORDS[(i + k) % 8] for k in range(4)] for i in range(len(images))],
                    "answer": ["A"] * len(images),
                    "split": ["test"] * len(images),
                }
            )
            score_items(model, processor, items, args.folder, "letter", 64, **workers)
            done = len(images)
        else:
            from dataengine.core.formats import question_prompt
            from dataengine.train.records import TrainRecord
            from dataengine.train.training import TrainConfig, fine_tune

            records = [
                TrainRecord(args.folder / image, question_prompt(QUESTION), WORDS[i % 8])
                for i, image in enumerate(images)
            ]
            cfg = TrainConfig(steps=50, batch_size=32, lr=1e-3, log_every=10)
            fine_tune(model, processor, records, cfg, seed=0, **workers)
            done = cfg.steps * cfg.batch_size
        seconds = time.perf_counter() - start
    print(json.dumps({"peak_rss_mb": round(memory.peak_kb / 1024, 1), "items_per_s": round(done / seconds, 1)}))


def measure(
    kind: str, images: int, folder: Path, model: Path, workers: int, threads: int, pythonpath: Path = REPO
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--images",
        str(images),
        "--folder",
        str(folder),
        "--model",
        str(model),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} over {images} images failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_memory_library(folder: Path) -> Path:
    """The library as of IN_MEMORY_COMMIT, unpacked from git into `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", IN_MEMORY_COMMIT, "dataengine"], capture_output=True, check=True
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--workers", type=int, default=1, help="loader workers of the streaming path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "data.json")
    parser.add_argument("--child", choices=["eval", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    work = REPO / "results" / "bench" / "data"
    folder = work / "images"
    print(f"making {max(args.sizes)} images in {folder} (once)", flush=True)
    make_images(folder, max(args.sizes))
    model = make_model(work / "model")
    result = {
        "images": args.sizes,
        "loader_workers": args.workers,
        "threads": args.threads,
        "eval_peak_rss_mb": [],
        "train_peak_rss_mb": [],
        "eval_items_per_s": [],
        "train_samples_per_s": [],
    }
    for n in args.sizes:
        evaluation = measure("eval", n, folder, model, args.workers, args.threads)
        training = measure("train", n, folder, model, args.workers, args.threads)
        result["eval_peak_rss_mb"].append(evaluation["peak_rss_mb"])
        result["eval_items_per_s"].append(evaluation["items_per_s"])
        result["train_peak_rss_mb"].append(training["peak_rss_mb"])
        result["train_samples_per_s"].append(training["items_per_s"])
        print(f"{n:6d} images: eval {evaluation}, train {training}", flush=True)
    with tempfile.TemporaryDirectory() as old:
        in_memory = measure("eval", min(args.sizes), folder, model, 0, args.threads, in_memory_library(Path(old)))
    result["in_memory_items_per_s"] = in_memory["items_per_s"]
    result["in_memory_peak_rss_mb"] = in_memory["peak_rss_mb"]
    print(f"{min(args.sizes):6d} images, in memory ({IN_MEMORY_COMMIT}): {in_memory}")

    growth = result["eval_peak_rss_mb"][-1] / result["eval_peak_rss_mb"][0]
    speed = result["eval_items_per_s"][0] / in_memory["items_per_s"]
    print(f"eval peak RSS {max(args.sizes)} / {min(args.sizes)} images: {growth:.2f}x (bar: <= 1.3)")
    print(f"streaming / in-memory speed at {min(args.sizes)} images: {speed:.2f} (bar: >= 0.9)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

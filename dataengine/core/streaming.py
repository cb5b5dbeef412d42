"""Batches made on demand: the torch steps (evaluation, training, embedding) read and preprocess the
images of one batch at a time, in DataLoader worker processes, so host memory stays flat however many
images a job has, and the next batches are prepared while the model runs on the current one.

A job describes its batches as keys (item rows, a training step's rows, a chunk of paths) and a
picklable builder that turns one key into tensors; `stream` yields the built batches in key order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from dataengine.core.images import open_rgb

PREFETCH_PER_WORKER = 2  # batches each worker keeps ready: enough to hide decoding, few in memory


def pixel_values(image_processor: Callable, paths: Sequence[Path]) -> torch.Tensor:
    """The images preprocessed by an image processor of fixed size (CLIP's: float32, n x C x H x W), in order."""
    return image_processor(images=[open_rgb(path) for path in paths], return_tensors="pt").pixel_values.float()


class _Batches(Dataset):
    def __init__(self, build: Callable[[Any], Any], keys: Sequence[Any]):
        self.build, self.keys = build, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> Any:
        return self.build(self.keys[index])


def _as_built(batch: Any) -> Any:
    """A built batch as it is: torch's default conversion would walk every token id of its lists."""
    return batch


def stream(build: Callable[[Any], Any], keys: Sequence[Any], workers: int, device: torch.device | str) -> Iterator:
    """`build(key)` for every key, in order, made by `workers` processes ahead of use (0: made here,
    when asked for). Batches bound for a GPU come in pinned memory, so they copy asynchronously."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers:
        # Workers are forked from a process whose tokenizer may have run threads already; they
        # tokenize one batch each, so its thread pool buys nothing there and only warns.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    loader = DataLoader(
        _Batches(build, keys),
        batch_size=None,  # a key is a whole batch
        collate_fn=_as_built,
        shuffle=False,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        prefetch_factor=PREFETCH_PER_WORKER if workers else None,
    )
    return iter(loader)

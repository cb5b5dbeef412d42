"""Replay: each round trains on its new samples plus a share drawn from earlier iterations' accepted
data, so what the student learnt before is rehearsed, not forgotten."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from dataengine import pipeline
from dataengine.core.jsonl import write_jsonl
from dataengine.eval.evaluate import score_items
from dataengine.model.student import load_student
from tests.tiny import COLOURS, colour_images, colour_items, colour_sample

TRAIN = {
    "method": "full",
    "steps": 40,
    "batch_size": 16,
    "lr": 1e-2,
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "log_every": 10,
    "views": ["free"],
}
NEW, EARLIER = COLOURS[:2], {0: COLOURS[2], 1: COLOURS[3]}  # red, green now; blue in iteration 0, yellow in 1


def samples(colour: str, paths: dict, iteration: int, n: int = 3) -> list[dict]:
    return [{**colour_sample(colour, paths[colour]), "id": f"{colour}-{k}", "iteration": iteration} for k in range(n)]


@pytest.fixture
def rounds(colour_task):
    """Iteration 2's accepted samples name red and green; iterations 0 and 1 accepted blue and yellow."""
    paths = colour_images(colour_task)
    write_jsonl(colour_task / "new.jsonl", [s for c in NEW for s in samples(c, paths, 2)])
    for iteration, colour in EARLIER.items():
        write_jsonl(colour_task / f"iter_{iteration}.jsonl", samples(colour, paths, iteration))
    return colour_task


def train(root, out: str, replay: int) -> dict:
    pipeline.train(
        str(root / "base"),
        str(root / "new.jsonl"),
        [str(root / f"iter_{i}.jsonl") for i in EARLIER],
        str(root / "images"),
        str(root / out),
        iteration=2,
        cfg={**TRAIN, "replay": replay},
        seed=0,
        threads=1,
    )
    return json.loads((root / out / "train_log.json").read_text())


def answers(root, out: str) -> dict[str, str]:
    """Colour of each picture -> the option the trained student scores highest (test split)."""
    items = colour_items(colour_images(root)).filter(pl.col("split") == "test")
    predictions = score_items(*load_student(root / out), items, image_root=root, method="option_text", batch_size=8)
    letter = dict(zip(predictions["id"], predictions["prediction"]))
    return {
        Path(item["image"]).stem: item["options"]["ABCD".index(letter[item["id"]])]
        for item in items.iter_rows(named=True)
    }


def test_training_replays_a_share_of_earlier_iterations_and_remembers_them(rounds):
    """Blue and yellow are only in the replayed data: the student names them only if it trained on it."""
    log = train(rounds, "model", replay=5)
    assert (log["new_samples"], log["replay_samples"], log["records"]) == (6, 5, 11)
    assert sum(log["replayed_from"].values()) == 5 and set(log["replayed_from"]) <= {"0", "1"}
    assert answers(rounds, "model") == {c: c for c in COLOURS}


def test_replay_takes_what_there_is_and_zero_turns_it_off(rounds):
    log = train(rounds, "all", replay=100)
    assert (log["replay_samples"], log["replayed_from"], log["records"]) == (6, {"0": 3, "1": 3}, 12)
    log = train(rounds, "none", replay=0)
    assert (log["replay_samples"], log["replayed_from"], log["records"]) == (0, {}, 6)
    assert {answers(rounds, "none")[c] for c in EARLIER.values()} <= set(NEW)  # never taught blue or yellow

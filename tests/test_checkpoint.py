"""Training survives preemption: a run killed with SIGTERM half way resumes from its checkpoint and
ends exactly where an uninterrupted run ends; a half-done run never looks like a finished model."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dataengine import pipeline
from dataengine.eval.evaluate import metrics, score_items
from dataengine.model.student import load_student
from dataengine.train.checkpoint import CHECKPOINT_FILE, checkpoint_dir_for
from dataengine.train.training import TrainConfig, fine_tune
from tests.conftest import REPO
from tests.test_training import colour_records
from tests.tiny import COLOURS, colour_items, tiny_student

STEPS = 300
TRAIN = {
    "method": "full",
    "steps": STEPS,
    "batch_size": 8,
    "lr": 1e-2,
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "log_every": 10,
    "views": ["free"],
    "replay": 0,
}
CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from dataengine import pipeline
pipeline.train(**json.loads(sys.argv[1]))
"""


def train_args(root: Path, out: str) -> dict:
    return {
        "model_dir": str(root / "base"),
        "accepted": str(root / "accepted.jsonl"),
        "replay_sources": [],
        "pool_images": str(root / "images"),
        "out_dir": str(root / out),
        "iteration": 1,
        "cfg": TRAIN,
        "seed": 0,
        "threads": 1,
    }


def kill_half_way(args: dict) -> tuple[int, str]:
    """Run pipeline.train in a subprocess and SIGTERM it once a checkpoint at or past half way is
    written; returns (the step it stopped after, its stderr)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    lines = []
    for line in child.stderr:
        lines.append(line)
        saved = re.search(r"checkpoint: step (\d+)/", line)
        if saved and int(saved[1]) >= STEPS // 2:
            child.send_signal(signal.SIGTERM)
            break
    lines += child.stderr.readlines()
    child.wait(timeout=120)
    stderr = "".join(lines)
    stopped = re.search(r"TrainingInterrupted: SIGTERM after step (\d+) of", stderr)
    assert child.returncode != 0 and stopped, stderr[-3000:]
    return int(stopped[1]), stderr


def colour_accuracy(model_dir: Path, root: Path) -> dict:
    model, processor = load_student(model_dir)
    items = colour_items({c: f"images/{c}.png" for c in COLOURS})
    return metrics(score_items(model, processor, items, root, "option_text", batch_size=8), "option_text")


@pytest.mark.slow
def test_sigterm_half_way_then_rerun_equals_an_uninterrupted_run(colour_task, caplog):
    root = colour_task
    stopped_at, _ = kill_half_way(train_args(root, "resumed"))
    assert STEPS // 2 <= stopped_at < STEPS
    checkpoint = checkpoint_dir_for(root / "resumed")
    assert checkpoint == root / "resumed.ckpt" and (checkpoint / CHECKPOINT_FILE).is_file()
    assert not (root / "resumed").exists()  # no model folder until training is complete
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        load_student(checkpoint)

    with caplog.at_level(logging.INFO, logger="dataengine"):
        pipeline.train(**train_args(root, "resumed"))
    assert f"resuming from step {stopped_at}" in caplog.text
    assert not checkpoint.exists()  # deleted once the model is saved
    pipeline.train(**train_args(root, "uninterrupted"))

    resumed, uninterrupted = (
        json.loads((root / d / "train_log.json").read_text()) for d in ("resumed", "uninterrupted")
    )
    assert resumed["resumed_from_step"] == stopped_at and uninterrupted["resumed_from_step"] == 0
    assert resumed["loss"] == uninterrupted["loss"] and len(resumed["loss"]) == STEPS // TRAIN["log_every"]
    assert resumed["loss"][-1]["loss"] < 0.1 < 1.0 < resumed["loss"][0]["loss"]  # it learned the task
    weights = [load_student(root / d)[0].state_dict() for d in ("resumed", "uninterrupted")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])
    scores = [colour_accuracy(root / d, root) for d in ("resumed", "uninterrupted")]
    assert scores[0] == scores[1] and scores[0]["splits"]["test"]["overall"]["acc"] == 100.0


FAST = TrainConfig(method="lora", steps=6, batch_size=4, log_every=2)


def test_a_finished_checkpoint_restores_the_lora_run(tmp_path):
    records = colour_records(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    first, first_log = fine_tune(*tiny_student(), records, FAST, seed=3, checkpoint_dir=tmp_path / "ckpt")
    assert signal.getsignal(signal.SIGTERM) is before
    # Checkpoints every 6 // 10 -> 1 step: the last one holds the finished run (adapters only).
    saved = torch.load(tmp_path / "ckpt" / CHECKPOINT_FILE, weights_only=True)
    assert saved["progress"]["step"] == 6 and saved["weights"]
    assert all("lora_" in name for name in saved["weights"])
    again, again_log = fine_tune(*tiny_student(), records, FAST, seed=3, checkpoint_dir=tmp_path / "ckpt")
    assert again_log["resumed_from_step"] == 6 and again_log["loss"] == first_log["loss"]
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in first.state_dict().items())


def test_a_checkpoint_of_another_run_is_ignored(tmp_path, caplog):
    records = colour_records(tmp_path)
    fine_tune(*tiny_student(), records, FAST, seed=3, checkpoint_dir=tmp_path / "ckpt")
    with caplog.at_level(logging.WARNING, logger="dataengine"):
        _, log = fine_tune(*tiny_student(), records, FAST, seed=4, checkpoint_dir=tmp_path / "ckpt")
    assert log["resumed_from_step"] == 0 and "belongs to another run" in caplog.text
    _, log = fine_tune(*tiny_student(seed=1), records, FAST, seed=4, checkpoint_dir=tmp_path / "ckpt")
    assert log["resumed_from_step"] == 0  # another starting model


def test_a_damaged_checkpoint_is_named(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"ckpt/state\.pt.*delete it"):
        fine_tune(*tiny_student(), colour_records(tmp_path), FAST, seed=3, checkpoint_dir=tmp_path / "ckpt")

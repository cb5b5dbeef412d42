"""train.report_to: the training curves and the evaluations, read back with TensorBoard's own event
reader; W&B asked for without its package is named."""

from __future__ import annotations

import json
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dataengine import pipeline
from dataengine.core.qtypes import SEED_TABLE
from dataengine.core.tracking import report_evaluation, tracker

TRAIN = {"method": "full", "steps": 6, "batch_size": 4, "lr": 1e-2, "log_every": 2, "views": ["free"], "replay": 0}


def scalars(folder, tag) -> list[tuple[int, float]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_training_curves_go_to_tensorboard_as_the_train_log_has_them(colour_task):
    out = colour_task / "run" / "iter_1" / "model"
    pipeline.train(
        model_dir=str(colour_task / "base"),
        accepted=str(colour_task / "accepted.jsonl"),
        replay_sources=[],
        pool_images=str(colour_task / "images"),
        out_dir=str(out),
        iteration=1,
        cfg=TRAIN | {"report_to": "tensorboard"},  # a knob of the section, as knobs() gives it
        seed=0,
        threads=1,
        report_to="tensorboard",
    )
    logged = json.loads((out / "train_log.json").read_text())["loss"]
    curves = colour_task / "run" / "tensorboard" / "train_1"
    loss = scalars(curves, "train/loss")
    assert [step for step, _ in loss] == [row["step"] for row in logged] == [2, 4, 6]
    assert [value for _, value in loss] == pytest.approx([row["loss"] for row in logged], rel=1e-6)
    assert [value for _, value in scalars(curves, "train/lr")] == pytest.approx([row["lr"] for row in logged])
    assert all(value > 0 for _, value in scalars(curves, "train/samples_per_s"))


def test_each_evaluation_is_a_point_at_its_iteration_per_split_and_type(tmp_path):
    for i, acc in ((0, 40.0), (1, 55.0)):
        metrics = {
            "splits": {
                split: {"overall": {"acc": acc}, "per_type": {"3": {"acc": acc + 1}, "5": {"acc": acc - 1}}}
                for split in ("dev", "test")
            }
        }
        report_evaluation("tensorboard", metrics, tmp_path / "run" / f"iter_{i}" / "eval" / "metrics.json", SEED_TABLE)
    report_evaluation("none", metrics, tmp_path / "other" / "iter_1" / "eval" / "metrics.json", SEED_TABLE)
    curves = tmp_path / "run" / "tensorboard" / "eval"
    assert scalars(curves, "eval/test/overall") == [(0, 40.0), (1, 55.0)]
    assert scalars(curves, "eval/dev/Instances Counting") == [(0, 39.0), (1, 54.0)]
    assert not (tmp_path / "other").exists()


def test_wandb_without_its_package_and_an_unknown_target_are_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"train.report_to: wandb needs the wandb package \(pip install wandb\)"):
        tracker("wandb", tmp_path, "train_1")
    with pytest.raises(ValueError, match=r"train.report_to is 'mlflow'; known: \('none', 'tensorboard', 'wandb'\)"):
        tracker("mlflow", tmp_path, "train_1")

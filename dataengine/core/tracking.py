"""Training curves and evaluations where people look for them (`train.report_to`): TensorBoard event
files or a Weights & Biases run, beside the loop's own train_log.json and report.

A run's TensorBoard folder is `<run>/tensorboard/`: `train_<i>/` holds iteration i's loss, learning
rate and throughput per logged step, `eval/` every iteration's accuracy per split and type at step i
(`eval_<name>/` a report benchmark's), so `tensorboard --logdir results/<run>/tensorboard` shows each
training and the loop's progress as lines. W&B gets one run per training (`<run>/train_<i>`) and one for the evaluations (`<run>/eval`,
resumed by each evaluation); `WANDB_PROJECT`, `WANDB_MODE=offline` and W&B's other variables apply.
Reporting changes nothing a job produces, so switching it reruns nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from dataengine.core.qtypes import TypeTable

REPORT_TO = ("none", "tensorboard", "wandb")


class Tracker(Protocol):
    def log(self, values: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class TensorBoard:
    """Scalars as TensorBoard event files in `folder`."""

    def __init__(self, folder: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "train.report_to: tensorboard needs the tensorboard package (pip install tensorboard)"
            ) from error
        self.writer = SummaryWriter(log_dir=str(folder))

    def log(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        self.writer.close()


class WandB:
    """Scalars in a W&B run named `name`, resumed when it exists (the evaluations' run)."""

    def __init__(self, folder: Path, name: str, group: str):
        try:
            import wandb
        except ImportError as error:
            raise ImportError("train.report_to: wandb needs the wandb package (pip install wandb)") from error
        folder.mkdir(parents=True, exist_ok=True)
        run_id = name.replace("/", "-")
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "dataengine"),
            name=name,
            group=group,
            id=run_id,
            resume="allow",
            dir=str(folder),
        )

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


def tracker(report_to: str, run_dir: Path, name: str) -> Tracker | None:
    """Where `<run_dir>`'s curves named `name` (train_<i>, eval) go; None for report_to none."""
    if report_to not in REPORT_TO:
        raise ValueError(f"train.report_to is {report_to!r}; known: {REPORT_TO}")
    if report_to == "none":
        return None
    if report_to == "tensorboard":
        return TensorBoard(Path(run_dir) / "tensorboard" / name)
    return WandB(Path(run_dir) / "wandb", f"{Path(run_dir).name}/{name}", group=Path(run_dir).name)


def report_evaluation(report_to: str, metrics: dict, metrics_path: Path, types: TypeTable) -> None:
    """An evaluation's accuracy per split, overall and per type (named by `types`, the run's) at its
    iteration's step. The path (RunLayout.metrics: <run>/iter_<i>/eval[_<report benchmark>]/metrics.json)
    says which; the curves are named after the evaluation's folder (eval, eval_<report benchmark>)."""
    folder = Path(metrics_path).parent
    track = tracker(report_to, folder.parent.parent, folder.name)
    if track is None:
        return
    values = {}
    for split, scores in metrics["splits"].items():
        values[f"{folder.name}/{split}/overall"] = scores["overall"]["acc"]
        values |= {f"{folder.name}/{split}/{types.name(t)}": e["acc"] for t, e in scores["per_type"].items()}
    track.log(values, int(folder.parent.name.removeprefix("iter_")))
    track.close()

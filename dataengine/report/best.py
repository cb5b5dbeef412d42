"""The model the run recommends: the iteration with the best overall accuracy on the dev split, the split
the loop already chooses its data from (the test split stays unseen, so its accuracy of the chosen model
is an honest estimate). Equal dev accuracies go to the earlier iteration: fewer rounds paid for.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from dataengine.core.jsonl import write_json

TIE_POINTS = 0.05  # dev accuracies this close (points) are equal: on under 2,000 dev items, the same count right
REASON = (
    f"the highest overall accuracy on the dev split (never the test split); dev accuracies within {TIE_POINTS} "
    "points are a tie, which goes to the earlier, cheaper iteration"
)


def choose(dev_overall: Sequence[float]) -> int:
    """The recommended iteration: the earliest whose dev accuracy is within TIE_POINTS of the best."""
    if not dev_overall:
        raise ValueError("best: no iterations to choose from")
    top = max(dev_overall)
    return next(i for i, acc in enumerate(dev_overall) if acc >= top - TIE_POINTS)


def recommend(metrics_per_iter: Sequence[dict], models: Sequence[str], run_dir: str | Path) -> dict | None:
    """summary.json's `best` (docs/contracts.md) from each iteration's metrics.json and model folder
    (`models`); None when an iteration has no dev split to choose on. The model is named relative to
    `run_dir` where it lies inside it, else as given (a base model elsewhere, another run's iteration 0)."""
    splits = [metrics.get("splits", {}) for metrics in metrics_per_iter]
    if not splits or any("acc" not in split.get("dev", {}).get("overall", {}) for split in splits):
        return None
    dev = [float(split["dev"]["overall"]["acc"]) for split in splits]
    i = choose(dev)
    return {
        "iteration": i,
        "model": model_path(models[i], run_dir),
        "dev_overall": dev[i],
        "test_overall": float(splits[i]["test"]["overall"]["acc"]),
        "rule": f"The recommended model has {REASON}.",
    }


def model_path(model: str | Path, run_dir: str | Path) -> str:
    """`model` relative to `run_dir` where it lies inside it, else as given."""
    inside = os.path.relpath(os.path.abspath(model), os.path.abspath(run_dir))
    return str(model) if inside == os.pardir or inside.startswith(os.pardir + os.sep) else Path(inside).as_posix()


def record(metrics_per_iter: Sequence[dict], models: Sequence[str], out_best: str | Path) -> dict | None:
    """Choose (recommend), and write the choice to `out_best` (report/best.json, so the run folder is the
    one above it); the choice, for summary.json. Without a dev split the file holds null."""
    best = recommend(metrics_per_iter, models, Path(out_best).parent.parent)
    write_json(out_best, best)
    return best


def sentence(best: dict) -> str:
    """One line for people: which iteration's model, its accuracies and why."""
    return (
        f"Recommended model: iteration {best['iteration']} (`{best['model']}`), dev {best['dev_overall']:.1f} %, "
        f"test {best['test_overall']:.1f} %: {REASON}."
    )

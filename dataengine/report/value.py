"""What a point cost: each round's teacher spend, and its training's GPU hours where it ran on GPUs,
beside the accuracy it bought (the change from the iteration before, paired on the test items). A
type's share of a round's spend is its share of the round's accepted samples; the cost per point is
given only where the change was a rise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from dataengine.core.qtypes import TypeTable


def round_value(
    changes: Mapping, cost_usd: float, accepted: list[dict], types: TypeTable, gpu_hours: float | None = None
) -> dict:
    """{"overall": entry, "per_type": {name: entry}}, each entry {"usd", "points", "p", "usd_per_point"}
    (usd_per_point None unless the change rose), and "gpu_hours", "gpu_hours_per_point" alike where the
    round's `gpu_hours` are known; `types` name the accepted samples' types."""
    counts = Counter(types.name(sample["qtype"]) for sample in accepted)
    total = sum(counts.values())

    def entry(share: float, change: Mapping) -> dict:
        spent = {"usd": cost_usd * share} | ({"gpu_hours": gpu_hours * share} if gpu_hours is not None else {})
        result = {"points": change["points"], "p": change["p"]}
        for unit, amount in spent.items():
            per_point = round(amount / change["points"], 4) if change["points"] > 0 else None
            result |= {unit: round(amount, 4), f"{unit}_per_point": per_point}
        return result

    return {
        "overall": entry(1.0, changes["overall"]),
        "per_type": {
            name: entry(counts[name] / total if total else 0.0, change) for name, change in changes["per_type"].items()
        },
    }


def training_gpu_hours(train_log: Mapping | None) -> float | None:
    """A round's training GPU hours, its seconds times its processes, where it ran on GPUs; None on a
    CPU or where the log does not say."""
    if not train_log or train_log.get("device") != "cuda":
        return None
    return train_log["seconds"] * train_log["processes"] / 3600


def per_point_text(entry: Mapping | None) -> str:
    """A cell: "0.0123 USD a point" (and "0.52 GPU h a point" where known), or why there is none."""
    if entry is None:
        return "–"
    if entry["usd_per_point"] is None:
        return f"{entry['usd']:.4f} USD, no rise"
    text = f"{entry['usd_per_point']:.4f} USD a point"
    if entry.get("gpu_hours_per_point") is not None:
        text += f", {entry['gpu_hours_per_point']:.2f} GPU h a point"
    return text

"""What a point cost: each round's teacher spend beside the accuracy it bought (the change from the
iteration before, paired on the test items). A type's share of a round's spend is its share of the
round's accepted samples; the cost per point is given only where the change was a rise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from dataengine.core.qtypes import TypeTable


def round_value(changes: Mapping, cost_usd: float, accepted: list[dict], types: TypeTable) -> dict:
    """{"overall": entry, "per_type": {name: entry}}, each entry {"usd", "points", "p", "usd_per_point"}
    (usd_per_point None unless the change rose); `types` name the accepted samples' types."""
    counts = Counter(types.name(sample["qtype"]) for sample in accepted)
    total = sum(counts.values())

    def entry(usd: float, change: Mapping) -> dict:
        per_point = round(usd / change["points"], 4) if change["points"] > 0 else None
        return {"usd": round(usd, 4), "points": change["points"], "p": change["p"], "usd_per_point": per_point}

    return {
        "overall": entry(cost_usd, changes["overall"]),
        "per_type": {
            name: entry(cost_usd * counts[name] / total if total else 0.0, change)
            for name, change in changes["per_type"].items()
        },
    }


def per_point_text(entry: Mapping | None) -> str:
    """A cell: "0.0123 USD a point", or why there is none."""
    if entry is None:
        return "–"
    if entry["usd_per_point"] is None:
        return f"{entry['usd']:.4f} USD, no rise"
    return f"{entry['usd_per_point']:.4f} USD a point"

"""Each plan explained, for the page and summary.md alike: per type the dev accuracy it came from,
what the strategy's rule made of it (the gain rule: the error rate, the measured gain per 1,000
samples and the learnability it gives), the weight, its share, the quota and the samples accepted;
the rule in words; and the plateaus: types that got data for two rounds without a significant rise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from dataengine.core.qtypes import TypeTable
from dataengine.report import paired

RULES = {
    "gain": "weight = (dev error rate x learnability) ^ (1 / temperature), capped at max_share; learnability "
    "is the type's measured dev gain per 1,000 samples over the median of the types measured, between floor "
    "and 1 (1 until a type has had enough samples to measure). Quotas split the budget in proportion.",
    "paper": "weight = the dev error rate (the paper's rule). Quotas split the budget in proportion.",
    "uniform": "every type weighs the same. Quotas split the budget evenly.",
}


def plan_rows(plan: Mapping, dev_per_type: Mapping, accepted: list[dict], types: TypeTable) -> list[dict]:
    """One row per planned type: name (of `types`), dev (metrics entry or None), the rule's terms (None
    for a plan that did not record them), weight, share, quota and accepted samples."""
    total = sum(plan["weights"].values()) or 1.0
    counts = Counter(int(sample["qtype"]) for sample in accepted)
    rows = []
    for key, quota in sorted(plan["quotas"].items(), key=lambda item: int(item[0])):
        weight = plan["weights"].get(key, 0.0)
        rows.append(
            {
                "type": types.name(key),
                "dev": dev_per_type.get(key),
                "terms": plan.get("terms", {}).get(key),
                "weight": weight,
                "share": weight / total,
                "quota": int(quota),
                "accepted": counts[int(key)],
            }
        )
    return rows


def plateaus(quotas: list[Mapping | None], changes: list[Mapping | None]) -> dict[int, list[str]]:
    """Iteration -> the types that got data in it and in the one before (`quotas[i]`: the plan of
    iteration i, by type name) and whose measured changes (`changes[i]`: summary.json's) show a
    significant rise in neither."""
    found = {}
    for i in range(2, len(quotas)):
        names = [
            name
            for name, quota in (quotas[i] or {}).items()
            if quota > 0
            and (quotas[i - 1] or {}).get(name, 0) > 0
            and _flat(changes[i - 1], name)
            and _flat(changes[i], name)
        ]
        if names:
            found[i] = sorted(names)
    return found


def _flat(changes: Mapping | None, name: str) -> bool:
    """The type's change was measured and is no significant rise."""
    entry = (changes or {}).get("per_type", {}).get(name)
    return entry is not None and not (entry["points"] > 0 and entry["p"] < paired.SIGNIFICANT)


def terms_text(terms: Mapping | None) -> tuple[str, str, str]:
    """The error rate, the measured gain per 1,000 samples and the learnability as cells."""
    if terms is None:
        return "–", "–", "–"
    gain = "not yet measured" if terms["gain_per_1000"] is None else f"{terms['gain_per_1000']:+.1f}"
    return f"{terms['error_rate']:.2f}", gain, f"{terms['learnability']:.2f}"

"""Comparing sampling strategies: did data aimed at the weak types beat the same amount spread evenly?

Reads the summary.json of every arm (one per seed and strategy, the arms of a seed sharing its base
model) and puts them side by side: the mean test accuracy over the seed's weak types (below
`WEAK_BELOW` % at iteration 0) and overall, per iteration, with mean and spread over seeds, the
per-seed difference of the default strategy to each other one, and where each budget went.
"""

import statistics
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from dataengine.qtypes import QTYPES

WEAK_BELOW = 60.0  # a type is weak when its base-model test accuracy is below this (percent)


def weak_types(base: Mapping) -> list[str]:
    """Type names whose test accuracy at iteration 0 is below WEAK_BELOW."""
    return [name for name, acc in base["per_type"].items() if acc < WEAK_BELOW]


def compare(arms: list[dict], default: str) -> dict:
    """The comparison (experiment.json) from arms [{"seed", "strategy", "summary"}], where summary
    is the arm's summary.json; every strategy must have run for every seed."""
    seeds = sorted({arm["seed"] for arm in arms})
    strategies = list(dict.fromkeys(arm["strategy"] for arm in arms))
    by_arm = {(arm["seed"], arm["strategy"]): arm["summary"]["iterations"] for arm in arms}
    missing = [f"seed {s} {name}" for s in seeds for name in strategies if (s, name) not in by_arm]
    if missing:
        raise ValueError(f"experiment arms missing: {', '.join(missing)}")
    if default not in strategies:
        raise ValueError(f"the default strategy {default!r} is not among the compared ones {strategies}")
    weak = {seed: weak_types(by_arm[seed, strategies[0]][0]) for seed in seeds}
    result = {"seeds": seeds, "default": default, "weak_below": WEAK_BELOW, "weak_types": weak, "strategies": {}}
    for name in strategies:
        runs = [by_arm[seed, name] for seed in seeds]
        result["strategies"][name] = {
            "weak_acc": [[_mean_of(it["per_type"], weak[seed]) for it in run] for seed, run in zip(seeds, runs)],
            "overall": [[it["overall"] for it in run] for run in runs],
            "budget": _mean_budget(runs),
        }
    for entry in result["strategies"].values():
        entry["weak_mean"] = _column_stat(entry["weak_acc"], statistics.fmean)
        entry["weak_sd"] = _column_stat(entry["weak_acc"], _sd)
        entry["overall_mean"] = _column_stat(entry["overall"], statistics.fmean)
        default_weak = result["strategies"][default]["weak_acc"]
        entry["default_minus_this"] = [
            [round(d - o, 3) for d, o in zip(mine, theirs)] for mine, theirs in zip(default_weak, entry["weak_acc"])
        ]
    return result


def write_markdown(result: Mapping, path: Path) -> None:
    """experiment.md: weak-type and overall accuracy per strategy and iteration, the per-seed lead
    of the default strategy, and the budget per type."""
    strategies = result["strategies"]
    iterations = range(len(next(iter(strategies.values()))["weak_mean"]))
    head = ["strategy", *(f"iter {i}" for i in iterations)]
    lines = [
        f"# Sampling strategies compared over seeds {result['seeds']} (default: {result['default']})",
        "",
        f"Weak types (test accuracy below {result['weak_below']:.0f} % at iteration 0): "
        + "; ".join(f"seed {seed}: {', '.join(names)}" for seed, names in result["weak_types"].items()),
        "",
        "## Weak-type test accuracy, mean ± sd over seeds",
        "",
        *_table(head, [[name, *_mean_sd(e["weak_mean"], e["weak_sd"])] for name, e in strategies.items()]),
        "",
        "## Overall test accuracy, mean over seeds",
        "",
        *_table(head, [[name, *(f"{v:.1f}" for v in e["overall_mean"])] for name, e in strategies.items()]),
        "",
        f"## Lead of `{result['default']}` on weak types, per seed",
        "",
        *_table(
            ["against", "seed", *(f"iter {i}" for i in iterations)],
            [
                [name, str(seed), *(f"{d:+.1f}" for d in diffs)]
                for name, e in strategies.items()
                if name != result["default"]
                for seed, diffs in zip(result["seeds"], e["default_minus_this"])
            ],
        ),
        "",
        "## Budget per type (new samples planned from each iteration, mean over seeds)",
        "",
    ]
    present = {t for e in strategies.values() for plan in e["budget"] for t in plan}
    order = list(QTYPES.values())
    types = sorted(present, key=lambda t: (order.index(t) if t in order else len(order), t))
    for name, entry in strategies.items():
        rows = [[f"{name}, from iter {i}", *(f"{b.get(t, 0):.0f}" for t in types)] for i, b in enumerate(entry["budget"])]
        lines += _table(["plan", *types], rows) + [""]
    path.write_text("\n".join(lines))


def plot(result: Mapping, path: Path) -> None:
    """experiment.png: weak-type and overall accuracy per strategy (mean, band = min..max over
    seeds) and the share of each budget that went to the weak types."""
    figure = Figure(figsize=(13, 4.2), layout="constrained")
    weak_axes, overall_axes, budget_axes = figure.subplots(1, 3)
    for name, entry in result["strategies"].items():
        for axes, runs in ((weak_axes, entry["weak_acc"]), (overall_axes, entry["overall"])):
            steps = range(len(runs[0]))
            columns = list(zip(*runs))
            line = axes.plot(steps, [statistics.fmean(c) for c in columns], marker="o", label=name)[0]
            axes.fill_between(steps, [min(c) for c in columns], [max(c) for c in columns], color=line.get_color(), alpha=0.15)
        budget_axes.plot(range(len(entry["budget"])), _weak_share(entry["budget"], result), marker="o", label=name)
    for axes, title in ((weak_axes, "weak types"), (overall_axes, "overall")):
        axes.set_title(f"test accuracy, {title} (band: seeds' min-max)")
        axes.set_xlabel("iteration")
        axes.set_ylabel("accuracy (%)")
        axes.grid(alpha=0.3)
    budget_axes.set_title("share of the budget on weak types")
    budget_axes.set_xlabel("plan made from iteration")
    budget_axes.set_ylim(0, 1)
    budget_axes.grid(alpha=0.3)
    weak_axes.legend(frameon=False)
    figure.savefig(path, dpi=120)


def _weak_share(budget: list[dict], result: Mapping) -> list[float]:
    """Share of each plan's budget on the weak types (the types weak for most seeds)."""
    names = {name for names in result["weak_types"].values() for name in names}
    return [sum(v for t, v in plan.items() if t in names) / max(sum(plan.values()), 1) for plan in budget]


def _mean_of(per_type: Mapping, names: list[str]) -> float | None:
    return round(statistics.fmean(per_type[n] for n in names), 3) if names else None


def _mean_budget(runs: list[list[dict]]) -> list[dict]:
    """Mean quota per type of each plan (iterations that planned: all but the last)."""
    plans = [[it["quotas"] for it in run if it.get("quotas")] for run in runs]
    return [
        {t: statistics.fmean(plan.get(t, 0) for plan in column) for t in sorted({t for plan in column for t in plan})}
        for column in zip(*plans)
    ]


def _column_stat(rows: list[list[float | None]], stat) -> list[float | None]:
    columns = list(zip(*rows))
    return [None if None in c else round(stat(c), 3) for c in columns]


def _sd(values) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _mean_sd(means: list, sds: list) -> list[str]:
    return ["–" if m is None else f"{m:.1f} ± {s:.1f}" for m, s in zip(means, sds)]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]

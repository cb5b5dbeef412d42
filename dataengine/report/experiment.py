"""Comparing sampling strategies: did data aimed at the weak types beat the same amount spread evenly?

Reads the summary.json of every arm (one per seed and strategy or variant, the arms of a seed sharing
its base model) and puts them side by side: the mean test accuracy over the seed's weak types (below
`WEAK_BELOW` % at iteration 0) and overall, per iteration, with mean and spread over seeds, and where
each budget went. Arms are compared paired by seed: the default's accuracy minus another arm's on the
same base model, per seed, then the mean with a 95 % t interval over seeds. Pairing removes what the
seeds' base models differ by, which is most of the spread between seeds.
"""

import statistics
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from dataengine.core.qtypes import TypeTable
from dataengine.report.paired import describe, pooled_changes
from dataengine.report.summary import type_names

WEAK_BELOW = 60.0  # a type is weak when its base-model test accuracy is below this (percent)
MEASURES = {"weak_acc": "weak types", "overall": "overall"}  # what arms are compared on
# Two-sided 95 % quantiles of Student's t by degrees of freedom; beyond the table, the last (conservative).
T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def weak_types(base: Mapping) -> list[str]:
    """Type names whose test accuracy at iteration 0 is below WEAK_BELOW."""
    return [name for name, acc in base["per_type"].items() if acc < WEAK_BELOW]


def compare(arms: list[dict], default: str, types: TypeTable) -> dict:
    """The comparison (experiment.json) from arms [{"seed", "strategy", "summary", "predictions"}],
    where summary is the arm's summary.json and predictions its evaluations' predictions, one frame
    per iteration; every strategy must have run for every seed."""
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
    mine = result["strategies"][default]
    for entry in result["strategies"].values():
        entry["weak_mean"] = _column_stat(entry["weak_acc"], statistics.fmean)
        entry["weak_sd"] = _column_stat(entry["weak_acc"], _sd)
        entry["overall_mean"] = _column_stat(entry["overall"], statistics.fmean)
        entry["paired"] = {key: paired(mine[key], entry[key]) for key in MEASURES}
    predictions = {(arm["seed"], arm["strategy"]): arm["predictions"] for arm in arms}
    for name, entry in result["strategies"].items():
        if name != default:
            entry["items"] = _on_the_items(
                [(predictions[seed, name], predictions[seed, default]) for seed in seeds], types
            )
    return result


def _on_the_items(arms_per_seed: list[tuple[list, list]], types: TypeTable) -> list[dict | None]:
    """Per iteration, the default's test accuracy minus another arm's on the same items, overall and
    per type, with McNemar's p over the items of every seed (dataengine.report.paired); None at
    iteration 0, where the arms of a seed are one base model."""
    iterations = len(arms_per_seed[0][0])
    return [None] + [
        pooled_changes([(theirs[i], mine[i]) for theirs, mine in arms_per_seed], types) for i in range(1, iterations)
    ]


def paired(mine: list[list[float]], theirs: list[list[float]]) -> dict:
    """mine - theirs per seed (rows) and iteration (columns), and per iteration the mean difference
    with its 95 % t interval over seeds ([low, high]; null with one seed)."""
    diff = [[round(m - t, 3) for m, t in zip(row_m, row_t)] for row_m, row_t in zip(mine, theirs)]
    columns = list(zip(*diff))
    means = [statistics.fmean(c) for c in columns]
    if len(diff) < 2:
        return {"diff": diff, "mean": [round(m, 3) for m in means], "ci95": [None] * len(columns)}
    t = T95[min(len(diff) - 1, len(T95)) - 1]
    half = [t * statistics.stdev(c) / len(c) ** 0.5 for c in columns]
    return {
        "diff": diff,
        "mean": [round(m, 3) for m in means],
        "ci95": [[round(m - h, 3), round(m + h, 3)] for m, h in zip(means, half)],
    }


def write_markdown(result: Mapping, path: Path, types: TypeTable) -> None:
    """experiment.md: weak-type and overall accuracy per arm and iteration, the default's lead over
    each other arm paired by seed (mean with its interval, and per seed, a column each), and the budget
    per type (`types`: the experiment's, in their order), one table for all arms."""
    strategies = result["strategies"]
    others = {name: e for name, e in strategies.items() if name != result["default"]}
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
        f"## `{result['default']}` minus each other arm, paired by seed: mean [95 % interval] over seeds",
        "",
        *_table(
            ["against", "measure", *(f"iter {i}" for i in iterations)],
            [
                [name, MEASURES[key], *map(_interval, e["paired"][key]["mean"], e["paired"][key]["ci95"])]
                for name, e in others.items()
                for key in MEASURES
            ],
        ),
        "",
        f"## `{result['default']}` minus each other arm, per seed",
        "",
        "Iteration 0 is left out: there the arms of a seed are one and the same base model.",
        "",
        *_table(
            ["against", "measure", "iter", *(f"seed {seed}" for seed in result["seeds"])],
            [
                [name, MEASURES[key], str(i), *(f"{diffs[i]:+.1f}" for diffs in e["paired"][key]["diff"])]
                for name, e in others.items()
                for key in MEASURES
                for i in iterations[1:]
            ],
        ),
        "",
        *_on_the_items_table(result, others, types),
        "## Budget per type (new samples planned from each iteration, mean over seeds)",
        "",
    ]
    names = type_names([plan for e in strategies.values() for plan in e["budget"]], types)
    rows = [
        [f"{name}, from iter {i}", *(f"{b.get(t, 0):.0f}" for t in names)]
        for name, entry in strategies.items()
        for i, b in enumerate(entry["budget"])
    ]
    path.write_text("\n".join([*lines, *_table(["plan", *names], rows), ""]))


def _on_the_items_table(result: Mapping, others: Mapping, types: TypeTable) -> list[str]:
    """The paired tests on the items: per other arm, the last iteration's change overall and per type,
    and the overall change at every iteration."""
    lines = [
        f"## `{result['default']}` minus each other arm on the same test items, all seeds' items pooled",
        "",
        "Points of test accuracy (items both arms scored, McNemar's exact p; p < 0.05 is a real difference).",
        "",
    ]
    for name, entry in others.items():
        by_iteration = entry["items"]
        last = by_iteration[-1]
        names = type_names([last["per_type"]], types)
        rows = [[f"iter {i}", "overall", describe(c["overall"])] for i, c in enumerate(by_iteration) if c]
        rows += [[f"iter {len(by_iteration) - 1}", t, describe(last["per_type"][t])] for t in names]
        lines += [f"### against `{name}`", "", *_table(["iteration", "type", "change"], rows), ""]
    return lines


def plot(result: Mapping, path: Path) -> None:
    """experiment.png: weak-type and overall accuracy per arm (mean, band = min..max over seeds), the
    default's lead over each other arm paired by seed (mean, bars = 95 % interval), and the share of
    each budget that went to the weak types."""
    figure = Figure(figsize=(17, 4.2), layout="constrained")
    weak_axes, overall_axes, paired_axes, budget_axes = figure.subplots(1, 4)
    for n, (name, entry) in enumerate(result["strategies"].items()):
        color = f"C{n}"
        for axes, runs in ((weak_axes, entry["weak_acc"]), (overall_axes, entry["overall"])):
            steps = range(len(runs[0]))
            columns = list(zip(*runs))
            axes.plot(steps, [statistics.fmean(c) for c in columns], marker="o", color=color, label=name)
            axes.fill_between(steps, [min(c) for c in columns], [max(c) for c in columns], color=color, alpha=0.15)
        budget_axes.plot(range(len(entry["budget"])), _weak_share(entry["budget"], result), marker="o", color=color)
        if name == result["default"]:
            continue
        for key, style, shift in (("weak_acc", "-", -0.05), ("overall", "--", 0.05)):
            pair = entry["paired"][key]
            steps = [i + shift for i in range(len(pair["mean"]))]
            paired_axes.errorbar(
                steps,
                pair["mean"],
                yerr=_error_bars(pair),
                linestyle=style,
                marker="o",
                capsize=3,
                color=color,
                label=f"vs {name}, {MEASURES[key]}",
            )
    for axes, title in ((weak_axes, "weak types"), (overall_axes, "overall")):
        axes.set_title(f"test accuracy, {title} (band: seeds' min-max)")
        axes.set_xlabel("iteration")
        axes.set_ylabel("accuracy (%)")
        axes.grid(alpha=0.3)
    paired_axes.axhline(0, color="black", linewidth=0.8)
    paired_axes.set_title(f"{result['default']} minus other arm, paired (bars: 95 % CI)")
    paired_axes.set_xlabel("iteration")
    paired_axes.set_ylabel("points")
    paired_axes.grid(alpha=0.3)
    paired_axes.legend(frameon=False, fontsize="small")
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


def _error_bars(pair: Mapping) -> list[list[float]] | None:
    """matplotlib's yerr (below, above each mean) from the 95 % intervals; None with one seed."""
    if None in pair["ci95"]:
        return None
    below = [m - lo for m, (lo, _) in zip(pair["mean"], pair["ci95"])]
    return [below, [hi - m for m, (_, hi) in zip(pair["mean"], pair["ci95"])]]


def _interval(mean: float, ci95: list | None) -> str:
    return f"{mean:+.1f}" if ci95 is None else f"{mean:+.1f} [{ci95[0]:+.1f}, {ci95[1]:+.1f}]"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]

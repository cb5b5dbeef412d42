"""The report's figures: test accuracy per type across iterations with 95 % intervals and the chance
line, beside where each iteration's budget went (accuracy.png); small multiples, one panel per type
with its accuracy and the samples it received, for one run or several side by side (types.png); and
small inline SVG loss curves for the HTML report, which need no image file."""

from __future__ import annotations

import html
import math
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dataengine.core.formats import SAMPLE_LETTERS
from dataengine.core.qtypes import TypeTable
from dataengine.report.run import Run
from dataengine.report.summary import by_type_name, test_split, type_names

CHANCE = 100.0 / len(SAMPLE_LETTERS)  # a guess among four options
PANEL_INCHES = (2.9, 2.2)  # one type's panel in types.png


def plot_accuracy(summary: dict, metrics_per_iter: list[dict], path: Path, types: TypeTable) -> None:
    """accuracy.png: per type (of `types`, the run's), test accuracy by iteration with Wilson 95 % bars,
    overall in bold and the chance line; beside it, each iteration's planned samples by type (where the
    budget went)."""
    iterations = summary["iterations"]
    steps = [it["iteration"] for it in iterations]
    # Figure without pyplot: no global backend or figure registry is touched (Agg renders it).
    figure = Figure(figsize=(13, 5), layout="constrained")
    accuracy, budget = figure.subplots(1, 2, width_ratios=[3, 2])
    intervals = [by_type_name(test_split(m, i)["per_type"], types) for i, m in enumerate(metrics_per_iter)]
    names = type_names([it["per_type"] for it in iterations], types)
    for offset, name in enumerate(names):
        xs = [s + 0.04 * (offset - (len(names) - 1) / 2) for s in steps]  # spread, so bars do not hide each other
        accs = [it["per_type"].get(name) for it in iterations]
        low = [a - iv[name]["ci_low"] if name in iv else 0 for a, iv in zip(accs, intervals)]
        high = [iv[name]["ci_high"] - a if name in iv else 0 for a, iv in zip(accs, intervals)]
        _unclipped(accuracy.errorbar(xs, accs, yerr=[low, high], marker="o", capsize=3, label=name))
    overall = [it["overall"] for it in iterations]
    _unclipped(accuracy.plot(steps, overall, color="black", linewidth=3, marker="s", label="overall"))
    accuracy.axhline(CHANCE, color="grey", linestyle="--", linewidth=1, label=f"chance ({CHANCE:.0f} %)")
    accuracy.set(xticks=steps, xlabel="iteration", ylabel="test accuracy (%), 95 % interval", ylim=(0, 100))
    accuracy.grid(alpha=0.3)
    accuracy.set_title(f"Run {summary['run']}: accuracy per question type")
    # Below the panel, so neither the chance line nor a marker runs through it.
    accuracy.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4, fontsize="small", frameon=False)
    planned = [it for it in iterations if it["quotas"]]
    bottoms = [0] * len(planned)
    for name in type_names([it["quotas"] for it in planned], types):
        counts = [it["quotas"].get(name, 0) for it in planned]
        budget.bar([it["iteration"] + 1 for it in planned], counts, bottom=bottoms, label=name)
        bottoms = [b + c for b, c in zip(bottoms, counts)]
    budget.set(xlabel="iteration trained on the samples", ylabel="samples planned", title="Where the budget went")
    budget.set_xticks([it["iteration"] + 1 for it in planned] or [1])
    budget.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, dpi=110)


def plot_run_types(run: Run, path: Path) -> None:
    """types.png for one run: per type, its test accuracy per iteration and the samples it received."""
    tests = [by_type_name(test_split(it.metrics, it.number)["per_type"], run.types) for it in run.iterations]
    samples = [dict(Counter(run.types.name(s["qtype"]) for s in it.accepted)) for it in run.iterations]
    plot_type_panels({run.name: tests}, {run.name: samples}, type_names([*tests, *samples], run.types), path)


def plot_type_panels(
    runs: Mapping[str, Sequence[Mapping[str, Mapping]]],
    samples: Mapping[str, Sequence[Mapping[str, int]]],
    types: Sequence[str],
    path: Path,
) -> None:
    """Small multiples: one panel per type of `types` (in that order), each with every run's test
    accuracy per iteration and its 95 % interval (`runs`: run label -> per iteration, type name ->
    {"acc", "ci_low", "ci_high"}; a type missing in an iteration is skipped), and as bars on a second
    axis the samples the type received (`samples`: run label -> per iteration, type name -> count).
    The scales are the same in every panel; a legend names the runs when there are several."""
    type_panels_figure(runs, samples, types)[0].savefig(path, dpi=110)


def panel_grid(count: int) -> tuple[int, int]:
    """(rows, columns) for `count` panels: one row up to five, else 3 to 5 columns with the fewest
    rows and empty cells together (then the wider)."""
    if count <= 5:
        return 1, max(count, 1)
    columns = min((3, 4, 5), key=lambda c: (math.ceil(count / c) + -count % c, -c))
    return math.ceil(count / columns), columns


def type_panels_figure(
    runs: Mapping[str, Sequence[Mapping[str, Mapping]]],
    samples: Mapping[str, Sequence[Mapping[str, int]]],
    types: Sequence[str],
) -> tuple[Figure, list[tuple[Axes, Axes]]]:
    """The figure of plot_type_panels and its panels, one per type: (accuracy axes, samples axes)."""
    rows, columns = panel_grid(len(types))
    width, height = PANEL_INCHES
    figure = Figure(
        figsize=(width * columns + 1.0, height * rows + (0.9 if len(runs) > 1 else 0.4)), layout="constrained"
    )
    grid = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    for spare in grid.flat[len(types) :]:
        spare.remove()
    if not types:  # a blank figure that says so (constrained layout needs an axes to size)
        figure.add_subplot().set_axis_off()
        figure.text(0.5, 0.5, "no question type measured", ha="center")
    panels = []
    counts = [n for per_run in samples.values() for per_iter in per_run for n in per_iter.values()]
    most = max(counts, default=0) or 1
    last = max([len(v) for v in (*runs.values(), *samples.values())], default=1) - 1
    colours = [f"C{k % 10}" for k in range(len(runs))]
    spread = 0.8 / max(len(runs), 1)  # bar width, and each run's offset, so runs stand side by side
    for k, name in enumerate(types):
        panel = grid[k // columns][k % columns]
        bars = panel.twinx()
        panels.append((panel, bars))
        for r, (label, colour) in enumerate(zip(runs, colours)):
            offset = spread * (r - (len(runs) - 1) / 2)
            received = [(i, per_iter.get(name, 0)) for i, per_iter in enumerate(samples.get(label, []))]
            bars.bar(
                [i + offset for i, _ in received], [n for _, n in received], width=spread, color=colour, alpha=0.25
            )
            points = [(i, per_iter[name]) for i, per_iter in enumerate(runs[label]) if name in per_iter]
            xs = [i + offset for i, _ in points]
            accs = [e["acc"] for _, e in points]
            yerr = [[e["acc"] - e["ci_low"] for _, e in points], [e["ci_high"] - e["acc"] for _, e in points]]
            _unclipped(
                panel.errorbar(xs, accs, yerr=yerr, color=colour, marker="o", markersize=4, capsize=2, label=label)
            )
        panel.axhline(CHANCE, color="grey", linestyle="--", linewidth=0.8)
        panel.set_zorder(bars.get_zorder() + 1)  # the accuracy lines above the bars
        panel.patch.set_visible(False)
        panel.set_title(textwrap.shorten(name, 34, placeholder="..."), fontsize="medium")
        panel.set(ylim=(0, 100), yticks=[0, 25, 50, 75, 100], xlim=(-0.6, last + 0.6))
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(axis="y", alpha=0.3)
        bars.set_ylim(0, most * 1.1)
        bars.yaxis.set_major_locator(MaxNLocator(4, integer=True))
        if k % columns == 0:
            panel.set_ylabel("test accuracy (%)")
        if k % columns == columns - 1 or k == len(types) - 1:
            bars.set_ylabel("samples received", color="dimgrey")
        else:
            bars.tick_params(right=False, labelright=False)
        if k + columns >= len(types):  # nothing below it
            panel.set_xlabel("iteration")
            panel.tick_params(labelbottom=True)
    if len(runs) > 1 and panels:
        figure.legend(
            *panels[0][0].get_legend_handles_labels(),
            loc="outside lower center",
            ncols=min(len(runs), 4),
            frameon=False,
        )
    return figure, panels


def _unclipped(artists) -> None:
    """Draw a plot's lines and markers whole at the axes' edge (a marker at 100 %)."""
    for artist in getattr(artists, "get_children", lambda: artists)():
        artist.set_clip_on(False)


def loss_svg(points: Sequence[tuple[float, float]], width: int = 360, height: int = 140, label: str = "loss") -> str:
    """A line chart of (step, loss) as inline SVG with its axes: steps along x, the loss up y, each
    ticked at its ends (and y in the middle), both named."""
    if len(points) < 2:
        return f"<p>{label}: {points[0][1]:.3g} at step {points[0][0]:g} (one logged step)</p>" if points else ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1
    left, right, top, bottom = 52, 12, 10, 36  # room for the tick labels and the axes' names

    def across(x: float) -> float:
        return left + (x - x0) / span_x * (width - left - right)

    def up(y: float) -> float:
        return height - bottom - (y - y0) / span_y * (height - top - bottom)

    line = " ".join(f"{across(x):.1f},{up(y):.1f}" for x, y in points)
    label = html.escape(label)
    base, side = height - bottom, left
    y_ticks = sorted({y0, (y0 + y1) / 2, y1})
    ticks = [
        f'<line x1="{across(x):.1f}" y1="{base}" x2="{across(x):.1f}" y2="{base + 4}" stroke="#999"/>'
        f'<text class="tick" x="{across(x):.1f}" y="{base + 15}" font-size="10" text-anchor="middle">{x:g}</text>'
        for x in sorted({x0, x1})
    ] + [
        f'<line x1="{side - 4}" y1="{up(y):.1f}" x2="{side}" y2="{up(y):.1f}" stroke="#999"/>'
        f'<text class="tick" x="{side - 6}" y="{up(y) + 3.5:.1f}" font-size="10" text-anchor="end">{y:.3g}</text>'
        for y in y_ticks
    ]
    middle = (top + base) / 2
    return (
        f'<svg class="loss" role="img" aria-label="{label} by step" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
        f'<line x1="{side}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>'
        f'<line x1="{side}" y1="{top}" x2="{side}" y2="{base}" stroke="#999"/>{"".join(ticks)}'
        f'<polyline fill="none" stroke="#2a6fdb" stroke-width="2" points="{line}"/>'
        f'<text class="axis" x="{(side + width - right) / 2:.1f}" y="{height - 4}" font-size="11" '
        f'text-anchor="middle">step</text><text class="axis" x="12" y="{middle:.1f}" font-size="11" '
        f'text-anchor="middle" transform="rotate(-90 12 {middle:.1f})">{label}</text></svg>'
    )

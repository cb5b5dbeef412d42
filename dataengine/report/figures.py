"""The report's figures: test accuracy per type across iterations with 95 % intervals and the chance
line, beside where each iteration's budget went (accuracy.png); and small inline SVG loss curves for
the HTML report, which need no image file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from dataengine.core.formats import SAMPLE_LETTERS
from dataengine.core.qtypes import TypeTable
from dataengine.report.summary import by_type_name, test_split, type_names

CHANCE = 100.0 / len(SAMPLE_LETTERS)  # a guess among four options


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
        accuracy.errorbar(xs, accs, yerr=[low, high], marker="o", capsize=3, label=name)
    accuracy.plot(steps, [it["overall"] for it in iterations], color="black", linewidth=3, marker="s", label="overall")
    accuracy.axhline(CHANCE, color="grey", linestyle="--", linewidth=1, label=f"chance ({CHANCE:.0f} %)")
    accuracy.set(xticks=steps, xlabel="iteration", ylabel="test accuracy (%), 95 % interval", ylim=(0, 100))
    accuracy.grid(alpha=0.3)
    accuracy.set_title(f"Run {summary['run']}: accuracy per question type")
    accuracy.legend(loc="lower right", fontsize="small", frameon=False)
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


def loss_svg(points: Sequence[tuple[float, float]], width: int = 360, height: int = 120, label: str = "loss") -> str:
    """A line chart of (step, loss) as inline SVG, its axes' ends labelled."""
    if len(points) < 2:
        return f"<p>{label}: {points[0][1]:.3g} at step {points[0][0]:g} (one logged step)</p>" if points else ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs) or 1, min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1
    margin = 28

    def at(x: float, y: float) -> str:
        across = margin + (x - x0) / span_x * (width - 2 * margin)
        up = height - margin - (y - y0) / span_y * (height - 2 * margin)
        return f"{across:.1f},{up:.1f}"

    line = " ".join(at(x, y) for x, y in points)
    return (
        f'<svg class="loss" role="img" aria-label="{label} curve" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><polyline fill="none" stroke="#2a6fdb" stroke-width="2" points="{line}"/>'
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="#999"/>'
        f'<text x="{margin}" y="{height - 8}" font-size="11">step {x0:g}</text>'
        f'<text x="{width - margin}" y="{height - 8}" font-size="11" text-anchor="end">step {x1:g}</text>'
        f'<text x="2" y="{margin - 8}" font-size="11">{label} {y1:.3g} .. {y0:.3g}</text></svg>'
    )

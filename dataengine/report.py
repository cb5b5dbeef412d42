"""The run's report: summary.json (a public contract), summary.md, accuracy.png and a sample gallery.

Reported numbers are test-split accuracies only: the loop chose its data from the dev split, so
the test split is the one that says whether the loop helped.
"""

import base64
import hashlib
import html
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from dataengine.formats import LETTERS
from dataengine.qtypes import QTYPES, qtype_name


def config_hash(config: dict) -> str:
    """First 12 hex digits of the sha256 of the config as canonical JSON (sorted keys)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def summarize(
    run: str,
    config_hash: str,
    metrics_per_iter: list[dict],
    quotas_per_iter: list[dict | None],
    samples_added: list[int],
) -> dict:
    """summary.json (docs/contracts.md): per iteration, test accuracies by type name, quotas, samples.

    `quotas_per_iter[i]` is the quotas.json planned from iteration i's evaluation (None for the last
    iteration, which plans nothing); `samples_added[i]` counts samples trained into model i.
    """
    if not len(metrics_per_iter) == len(quotas_per_iter) == len(samples_added):
        raise ValueError(
            f"summarize: {len(metrics_per_iter)} metrics, {len(quotas_per_iter)} quotas and "
            f"{len(samples_added)} sample counts; expected one of each per iteration"
        )
    iterations = []
    for iteration, (metrics, plan, added) in enumerate(zip(metrics_per_iter, quotas_per_iter, samples_added)):
        test = _test_split(metrics, iteration)
        row = {
            "iteration": iteration,
            **_accuracies(test),
            "samples_added": int(added),
            "quotas": {} if plan is None else {qtype_name(t): int(q) for t, q in _by_type_id(plan["quotas"])},
        }
        if "circular" in test:
            row["circular"] = _accuracies(test["circular"])
        iterations.append(row)
    return {"run": run, "config_hash": config_hash, "iterations": iterations}


def _accuracies(block: Mapping) -> dict:
    """overall, per_type (by name) and n_eval of a metrics block (a split, or its CircularEval)."""
    return {
        "overall": float(block["overall"]["acc"]),
        "per_type": {qtype_name(t): float(entry["acc"]) for t, entry in _by_type_id(block["per_type"])},
        "n_eval": int(block["overall"]["n"]),
    }


def write_summary_md(
    summary: dict,
    metrics_per_iter: list[dict],
    path: Path,
    teacher_stats: Mapping[str, dict] | None = None,
    rejected: list[list[dict]] = (),
) -> None:
    """A readable summary.md: accuracy per type across iterations, change, interval (and the same for
    CircularEval where the benchmark has circular copies), quotas, the teacher's calls, tokens and
    cost (`teacher_stats`: generation.json by step, "seed set" and the iterations), and what
    validation dropped and why (iterations 1..)."""
    iterations = summary["iterations"]
    last = iterations[-1]
    last_test = _test_split(metrics_per_iter[-1], last["iteration"])
    lines = [
        f"# Run `{summary['run']}` (config `{summary['config_hash']}`)",
        "",
        f"Test-split accuracy (%), {last['n_eval']} test items. Change is from iteration 0; the interval is "
        f"Wilson's 95 % at iteration {last['iteration']}.",
        "",
        *_accuracy_table(iterations, last_test),
    ]
    if "circular" in last:
        lines += [
            "",
            "## CircularEval",
            "",
            f"Test-split accuracy (%) over {last['circular']['n_eval']} questions, each asked once per rotation "
            "of its options and counted right only when every rotation is (MMBench's CircularEval).",
            "",
            *_accuracy_table([it["circular"] for it in iterations], last_test["circular"]),
        ]
    planned = [it for it in iterations if it["quotas"]]
    lines += ["", "## Quotas planned from each iteration's evaluation", ""]
    if planned:
        lines.append(_table_row(["type", *(f"from iter {it['iteration']}" for it in planned)]))
        lines.append(_table_row(["---"] + ["---:"] * len(planned)))
        for name in _type_names(planned, key="quotas"):
            lines.append(_table_row([name, *(str(it["quotas"].get(name, 0)) for it in planned)]))
    else:
        lines.append("No iteration planned new samples.")
    lines += ["", "## Samples added", ""]
    lines.append(_table_row(["iteration", "accepted samples trained in"]))
    lines.append(_table_row(["---:", "---:"]))
    lines += [_table_row([str(it["iteration"]), str(it["samples_added"])]) for it in iterations]
    if teacher_stats:
        lines += _teacher_table(teacher_stats)
    if rejected:
        lines += _rejection_table(rejected)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _accuracy_table(rows: list[dict], last: Mapping) -> list[str]:
    """Type x iteration table of `rows` (summary accuracies per iteration), the change from the first,
    and the Wilson interval of `last` (the last iteration's metrics block)."""
    first, final = rows[0], rows[-1]
    last_by_name = {qtype_name(t): entry for t, entry in _by_type_id(last["per_type"])}
    lines = [
        _table_row(["type", *(f"iter {i}" for i in range(len(rows))), "change", "95 % CI"]),
        _table_row(["---"] + ["---:"] * (len(rows) + 2)),
    ]
    for name in _type_names(rows):
        accs = [row["per_type"].get(name) for row in rows]
        entry = last_by_name.get(name)
        interval = f"{entry['ci_low']:.1f}–{entry['ci_high']:.1f}" if entry else "–"
        lines.append(_table_row([name, *map(_pct, accs), _change(accs[0], accs[-1]), interval]))
    overall = last["overall"]
    lines.append(
        _table_row(
            [
                "**overall**",
                *(f"**{row['overall']:.1f}**" for row in rows),
                f"**{_change(first['overall'], final['overall'])}**",
                f"{overall['ci_low']:.1f}–{overall['ci_high']:.1f}",
            ]
        )
    )
    return lines


def _teacher_table(teacher_stats: Mapping[str, dict]) -> list[str]:
    """Per generation step (the seed set, then each iteration): the last job's calls and cache hits,
    and what the step paid over all its jobs (tokens, cost, jobs that paid), and final failures."""
    header = ["step", "teacher", "calls", "cache hits", "prompt tokens", "completion tokens", "cost (USD)", "jobs paid",
              "failures"]  # fmt: skip
    lines = ["", "## Teacher", "", _table_row(header), _table_row(["---", "---"] + ["---:"] * 6 + ["---"])]
    for step, stats in teacher_stats.items():
        failures = ", ".join(f"{k} {v}" for k, v in stats.get("failures", {}).items()) or "–"
        lines.append(
            _table_row(
                [step, stats.get("model", stats["teacher"]), str(stats["calls"]), str(stats.get("cache_hits", 0)),
                 str(stats.get("prompt_tokens", 0)), str(stats.get("completion_tokens", 0)), f"{stats['cost_usd']:.4f}",
                 str(stats.get("attempts", 0)), failures]
            )
        )  # fmt: skip
    total = sum(stats["cost_usd"] for stats in teacher_stats.values())
    ledgers = sorted({stats["ledger"] for stats in teacher_stats.values() if "ledger" in stats})
    source = f" (from the ledger {', '.join(ledgers)})" if ledgers else ""
    return lines + [
        "",
        f"Teacher cost of the run: {total:.4f} USD{source}: every reply paid for, interrupted jobs' and reruns' "
        "included; cached replies cost nothing.",
    ]


def _rejection_table(rejected: list[list[dict]]) -> list[str]:
    """Rejected teacher replies per generated iteration, by reason (contamination drops included)."""
    counts = [Counter(record["reason"] for record in batch) for batch in rejected]
    reasons = sorted(set().union(*counts))
    lines = ["", "## Rejected by validation", ""]
    if not reasons:
        return lines + ["Validation rejected nothing."]
    lines.append(_table_row(["reason", *(f"iter {i}" for i in range(1, len(counts) + 1))]))
    lines.append(_table_row(["---"] + ["---:"] * len(counts)))
    lines += [_table_row([reason, *(str(c[reason]) for c in counts)]) for reason in reasons]
    return lines + ["", "Each rejection is kept with its reason (and detail) in `iter_<i>/data/rejected.jsonl`."]


def plot_accuracy(summary: dict, path: Path) -> None:
    """accuracy.png: test accuracy per type across iterations, overall in bold, legend outside."""
    iterations = summary["iterations"]
    steps = [it["iteration"] for it in iterations]
    # Figure without pyplot: no global backend or figure registry is touched (Agg renders it).
    figure = Figure(figsize=(9, 5), layout="constrained")
    axes = figure.subplots()
    for name in _type_names(iterations):
        axes.plot(steps, [it["per_type"].get(name) for it in iterations], marker="o", label=name)
    axes.plot(
        steps, [it["overall"] for it in iterations], color="black", linewidth=3, marker="s", label="overall"
    )
    axes.set_xticks(steps)
    axes.set_xlabel("iteration")
    axes.set_ylabel("test accuracy (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.set_title(f"Run {summary['run']}: accuracy per question type")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.savefig(path, dpi=120)


def write_gallery(samples: list[dict], pool_dir: Path, path: Path, per_type: int) -> None:
    """gallery.html: up to `per_type` samples of each type, in the order given, images inlined so
    the file can be opened or mailed on its own."""
    by_type: dict[int, list[dict]] = {}
    for sample in samples:
        shown = by_type.setdefault(int(sample["qtype"]), [])
        if len(shown) < per_type:
            shown.append(sample)
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Generated samples</title><style>',
        "body{font-family:sans-serif;margin:2em} .card{display:inline-block;vertical-align:top;width:260px;"
        "margin:0 1em 1em 0} .card img{width:256px;image-rendering:pixelated;border:1px solid #ccc}"
        " .correct{font-weight:bold;color:#1a7f37} ol{padding-left:1.5em}",
        "</style></head><body><h1>Generated samples</h1>",
    ]
    for qtype in sorted(by_type):
        parts.append(f"<h2>{html.escape(qtype_name(qtype))}</h2>")
        parts += [_sample_card(sample, Path(pool_dir)) for sample in by_type[qtype]]
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")


def _sample_card(sample: Mapping, pool_dir: Path) -> str:
    image_path = pool_dir / sample["image"]
    try:
        encoded = base64.b64encode(image_path.read_bytes()).decode("ascii")
    except OSError as error:
        raise ValueError(
            f"gallery: cannot read image {image_path} of sample {sample.get('id')!r}: {error}"
        ) from error
    mime = "image/jpeg" if image_path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    options = "".join(
        (
            f'<li class="correct">{html.escape(option)} &#10003;</li>'
            if letter == sample["choice_answer"]
            else f"<li>{html.escape(option)}</li>"
        )
        for letter, option in zip(LETTERS, sample["options"])
    )
    return (
        f'<div class="card"><img src="data:{mime};base64,{encoded}" alt="{html.escape(sample["image"])}">'
        f"<p>{html.escape(sample['instruction'])}</p><ol type=\"A\">{options}</ol>"
        f"<small>{html.escape(str(sample.get('id', '')))}</small></div>"
    )


def _test_split(metrics: Mapping, iteration: int) -> Mapping:
    test = metrics.get("splits", {}).get("test", {})
    if "per_type" not in test or not {"acc", "n"} <= set(test.get("overall", {})):
        raise ValueError(
            f"metrics of iteration {iteration} lack splits/test/overall (acc, n) or splits/test/per_type "
            "(see docs/contracts.md, metrics.json)"
        )
    return test


def _by_type_id(by_key: Mapping) -> list[tuple[int, object]]:
    """(type id, value) pairs of a dict keyed by type ids as strings, in type-id order."""
    return sorted(((int(key), value) for key, value in by_key.items()), key=lambda pair: pair[0])


def _type_names(iterations: list[dict], key: str = "per_type") -> list[str]:
    """Type names appearing in any iteration, in the type table's order."""
    present = {name for it in iterations for name in it[key]}
    return [name for name in QTYPES.values() if name in present]


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _change(before: float | None, after: float | None) -> str:
    return "–" if before is None or after is None else f"{after - before:+.1f}"

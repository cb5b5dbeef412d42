"""summary.json (a public contract) and summary.md: accuracies per type across iterations with their
intervals (and per the benchmark's own categories where it has them, MMBench), the changes between
iterations with their paired tests, the plans
with the dev accuracies and weights they came from, the teacher's cost and validation's rejections.

Reported accuracies are the test split's: the loop chose its data from the dev split, so the test split
is the one that says whether the loop helped.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from dataengine.core.qtypes import TypeTable
from dataengine.report import paired
from dataengine.report.best import sentence as best_sentence
from dataengine.report.plans import RULES, plan_rows, plateaus, terms_text
from dataengine.report.rejections import meaning
from dataengine.report.value import per_point_text as value_text
from dataengine.report.value import round_value

CATEGORY_KEYS = ("per_category", "per_l2_category")  # the benchmark's own taxonomy (metrics.json)


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
    types: TypeTable,
    reported: Mapping[str, list[dict]] | None = None,
    changes: list[dict | None] = (),
    best: dict | None = None,
) -> dict:
    """summary.json (docs/contracts.md): per iteration, test accuracies by type name (`types`: the run's),
    quotas, samples, and (`changes[i]`, for i >= 1 where the predictions were there) the change from i-1
    overall and per type, paired on the test items (dataengine.report.paired).

    `quotas_per_iter[i]` is the quotas.json planned from iteration i's evaluation (None for the last
    iteration, which plans nothing); `samples_added[i]` counts samples trained into model i;
    `reported` holds each report benchmark's metrics.json per iteration (`reported` in the summary);
    `best` the recommended model (dataengine.report.best.recommend), where there is one.
    """
    if not len(metrics_per_iter) == len(quotas_per_iter) == len(samples_added):
        raise ValueError(
            f"summarize: {len(metrics_per_iter)} metrics, {len(quotas_per_iter)} quotas and "
            f"{len(samples_added)} sample counts; expected one of each per iteration"
        )
    iterations = []
    for iteration, (metrics, plan, added) in enumerate(zip(metrics_per_iter, quotas_per_iter, samples_added)):
        test = test_split(metrics, iteration)
        row = {
            "iteration": iteration,
            **_accuracies(test, types),
            "samples_added": int(added),
            "quotas": {} if plan is None else {name: int(q) for name, q in by_type_name(plan["quotas"], types).items()},
        }
        paired_change = changes[iteration] if iteration < len(changes) else None
        iterations.append(row | _test_accuracies(test, types) | ({"changes": paired_change} if paired_change else {}))
    result = {"run": run, "config_hash": config_hash, "iterations": iterations} | ({"best": best} if best else {})
    if reported:
        result["reported"] = {
            name: [
                {"iteration": i, **_accuracies(test_split(m, i), types), **_test_accuracies(test_split(m, i), types)}
                for i, m in enumerate(per_iter)
            ]
            for name, per_iter in reported.items()
        }
    return result


def _test_accuracies(test: Mapping, types: TypeTable) -> dict:
    """The CircularEval accuracies of a test split where its benchmark has circular copies."""
    return {"circular": _accuracies(test["circular"], types)} if "circular" in test else {}


def _accuracies(block: Mapping, types: TypeTable) -> dict:
    """overall, per_type (by name) and n_eval of a metrics block (a split, or its CircularEval), and
    the benchmark's own per_category and per_l2_category where it has them."""
    return {
        "overall": float(block["overall"]["acc"]),
        "per_type": {name: float(entry["acc"]) for name, entry in by_type_name(block["per_type"], types).items()},
        "n_eval": int(block["overall"]["n"]),
        **{key: {name: float(e["acc"]) for name, e in block[key].items()} for key in CATEGORY_KEYS if key in block},
    }


def write_summary_md(
    summary: dict,
    metrics_per_iter: list[dict],
    path: Path,
    types: TypeTable,
    teacher_stats: Mapping[str, dict] | None = None,
    rejected: list[list[dict]] = (),
    plans: list[dict] = (),
    reported: Mapping[str, list[dict]] | None = None,
    accepted: list[list[dict]] = (),
) -> None:
    """A readable summary.md: test accuracy per type and iteration with its 95 % interval, every change
    from one iteration to the next with its paired test (the accuracies also for CircularEval where the
    benchmark has circular copies), the same per the benchmark's own categories where the items have them (MMBench), each
    iteration's plan explained (`plans`, the quotas.json of iterations 1..; `accepted`, their accepted
    samples), the samples trained in, the teacher's calls, tokens and cost (`teacher_stats`:
    generation.json by step), and what validation dropped and why (`rejected`); then the same
    accuracy tables for each report benchmark (`reported`: its metrics.json per iteration)."""
    iterations = summary["iterations"]
    tests = [test_split(m, i) for i, m in enumerate(metrics_per_iter)]
    lines = [
        f"# Run `{summary['run']}` (config `{summary['config_hash']}`)",
        "",
        f"Test-split accuracy (%) with Wilson's 95 % interval, {iterations[-1]['n_eval']} test items; change is "
        "from iteration 0.",
        "",
        *_accuracy_table(iterations, tests, types),
        *(["", best_sentence(summary["best"])] if "best" in summary else []),
        *_changes(iterations),
    ]
    lines += _circular_tables(iterations, tests, "##", types)
    if "per_category" in iterations[-1]:
        lines += category_table(iterations, tests)
    for name, per_iter in (reported or {}).items():
        rows, blocks = summary["reported"][name], [test_split(m, i) for i, m in enumerate(per_iter)]
        lines += [
            "",
            f"## Reported on `{name}`",
            "",
            f"Every iteration's model on the report benchmark `{name}` ({rows[-1]['n_eval']} test items), which "
            "the loop never samples from: test-split accuracy (%) with Wilson's 95 % interval.",
            "",
            *_accuracy_table(rows, blocks, types),
            *_circular_tables(rows, blocks, "###", types),
        ]
    lines += _plan_tables(plans, metrics_per_iter, accepted, iterations, types)
    lines += ["", "## Samples added", ""]
    lines.append(_table_row(["iteration", "accepted samples trained in"]))
    lines.append(_table_row(["---:", "---:"]))
    lines += [_table_row([str(it["iteration"]), str(it["samples_added"])]) for it in iterations]
    if teacher_stats:
        lines += _teacher_table(teacher_stats)
        values = {
            row["iteration"]: round_value(
                row["changes"], teacher_stats[str(row["iteration"])]["cost_usd"], accepted[row["iteration"] - 1], types
            )
            for row in iterations
            if "changes" in row and str(row["iteration"]) in teacher_stats and row["iteration"] <= len(accepted)
        }
        lines += _value_table(values)
    if rejected:
        lines += _rejection_table(rejected)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _circular_tables(rows: list[dict], blocks: list[Mapping], heading: str, types: TypeTable) -> list[str]:
    """The CircularEval table of a benchmark with circular copies (nothing without)."""
    if "circular" not in rows[-1]:
        return []
    return [
        "",
        f"{heading} CircularEval",
        "",
        f"Test-split accuracy (%) over {rows[-1]['circular']['n_eval']} questions, each asked once per "
        "rotation of its options and counted right only when every rotation is (MMBench's CircularEval). A "
        "question whose base copy (index < 1,000,000) is missing from the benchmark file counts over the "
        "rotations present; VLMEvalKit drops it (the benchmark log counts such questions).",
        "",
        *_accuracy_table([row["circular"] for row in rows], [block["circular"] for block in blocks], types),
    ]


def _accuracy_table(rows: list[dict], blocks: list[Mapping], types: TypeTable) -> list[str]:
    """Type x iteration table of `rows` (summary accuracies per iteration) with each iteration's
    interval from `blocks` (its metrics block), and the change from the first iteration."""
    intervals = [by_type_name(block["per_type"], types) for block in blocks]
    lines = [
        _table_row(["type", *(f"iter {i}" for i in range(len(rows))), "change"]),
        _table_row(["---"] + ["---:"] * (len(rows) + 1)),
    ]
    for name in type_names([row["per_type"] for row in rows], types):
        accs = [row["per_type"].get(name) for row in rows]
        cells = [_with_interval(acc, by_name.get(name)) for acc, by_name in zip(accs, intervals)]
        lines.append(_table_row([name, *cells, _change(accs[0], accs[-1])]))
    overall = [f"**{_with_interval(row['overall'], block['overall'])}**" for row, block in zip(rows, blocks)]
    lines.append(_table_row(["**overall**", *overall, f"**{_change(rows[0]['overall'], rows[-1]['overall'])}**"]))
    return lines


def _changes(rows: list[dict]) -> list[str]:
    """Every change from one iteration to the next, overall and per type, with its paired test on the
    test items (summary.json's `changes`); the significant ones in bold, rises and falls alike."""
    steps = [row for row in rows if "changes" in row]
    if not steps:
        return []
    lines = [
        "",
        "## Changes between iterations",
        "",
        "Paired on the test items each iteration scores again: the change in points, the items it rests on",
        f"(n) and McNemar's exact two-sided p; **bold** where p < {paired.SIGNIFICANT}.",
        "",
        _table_row(["type", *(f"{row['iteration'] - 1} → {row['iteration']}" for row in steps)]),
        _table_row(["---", *("---:" for _ in steps)]),
    ]
    names = sorted({name for row in steps for name in row["changes"]["per_type"]})
    for name in [*names, None]:
        cells = []
        for row in steps:
            entry = row["changes"]["overall"] if name is None else row["changes"]["per_type"].get(name)
            text = "–" if entry is None else paired.describe(entry)
            cells.append(f"**{text}**" if entry is not None and entry["p"] < paired.SIGNIFICANT else text)
        lines.append(_table_row(["overall" if name is None else name, *cells]))
    return lines


def _plan_tables(
    plans: list[dict], metrics_per_iter: list[dict], accepted: list[list[dict]], rows: list[dict], types: TypeTable
) -> list[str]:
    """Per iteration i >= 1: its plan's strategy and rule and, per type, the dev accuracy of iteration
    i-1 it was made from, the rule's terms, the weight and its share, the quota and the samples
    accepted (`accepted[i - 1]`, where given); then the plateaus (dataengine.report.plans)."""
    lines = ["", "## Plans", ""]
    if not plans:
        return lines + ["No iteration planned new samples."]
    flat = plateaus(
        [None, *(by_type_name(plan["quotas"], types) for plan in plans)], [row.get("changes") for row in rows]
    )
    for i, plan in enumerate(plans, start=1):
        dev = {
            str(t): e for t, e in metrics_per_iter[i - 1].get("splits", {}).get("dev", {}).get("per_type", {}).items()
        }
        lines += [
            f"Iteration {i} ({plan['strategy']}, {plan['budget']} samples), from iteration {i - 1}'s dev split. "
            f"{RULES[plan['strategy']]}",
            "",
            _table_row(
                ["type", "dev accuracy", "error rate", "gain per 1,000", "learnability", "weight", "share"]
                + ["quota", "accepted"]
            ),
            _table_row(["---", *("---:" for _ in range(8))]),
        ]
        for row in plan_rows(plan, dev, accepted[i - 1] if i <= len(accepted) else [], types):
            acc = f"{row['dev']['acc']:.1f} (n {row['dev']['n']})" if row["dev"] else "–"
            cells = [row["type"], acc, *terms_text(row["terms"]), f"{row['weight']:.3f}", f"{row['share']:.2f}"]
            lines.append(_table_row([*cells, str(row["quota"]), str(row["accepted"]) if accepted else "–"]))
        if i in flat:
            lines += [
                "",
                f"Plateau: {', '.join(flat[i])} got data in this round and the one before without a significant rise.",
            ]
        lines.append("")
    return lines[:-1]


def category_table(iterations: list[dict], tests: list[Mapping]) -> list[str]:
    """The benchmark's own categories (MMBench: l2-categories in bold, then categories) x iteration, each
    cell with its 95 % interval: plain accuracy over items and, where there are circular copies,
    CircularEval over questions; the counts are the last iteration's (`tests`: each iteration's
    test-split metrics block)."""
    blocks = [("", iterations, tests)]
    if "circular" in tests[-1]:
        blocks.append(("circular ", [it["circular"] for it in iterations], [t["circular"] for t in tests]))
    header = ["l2-category / category"]
    for prefix, _, _ in blocks:
        header += ["questions" if prefix else "items", *(f"{prefix}iter {it['iteration']}" for it in iterations)]
    lines = [
        "",
        "## Per category",
        "",
        "Test-split accuracy (%) with Wilson's 95 % interval per category as the "
        "benchmark defines them (MMBench's `l2-category` in bold, then `category`), beside the question types "
        "above.",
        "",
        _table_row(header),
        _table_row(["---"] + ["---:"] * (len(header) - 1)),
    ]
    for key in ("per_l2_category", "per_category"):
        for name in sorted(tests[-1].get(key, {})):
            cells = [f"**{name}**" if key == "per_l2_category" else name]
            for _, rows, metrics_blocks in blocks:
                cells.append(str(metrics_blocks[-1][key][name]["n"]))
                cells += [
                    _with_interval(row.get(key, {}).get(name), block.get(key, {}).get(name))
                    for row, block in zip(rows, metrics_blocks)
                ]
            lines.append(_table_row(cells))
    return lines


def _value_table(values: Mapping[int, dict]) -> list[str]:
    """Per type and iteration, the teacher USD per point of paired test accuracy gained
    (dataengine.report.value)."""
    if not values:
        return []
    names = sorted({name for value in values.values() for name in value["per_type"]})
    lines = [
        "",
        "## What a point cost",
        "",
        "Each round's teacher USD per point of test accuracy it gained (the paired change from the iteration",
        "before); a type's share of the spend is its share of the round's accepted samples.",
        "",
        _table_row(["type", *(f"iteration {i}" for i in values)]),
        _table_row(["---", *("---:" for _ in values)]),
    ]
    for name in [*names, None]:
        cells = [value_text(v["overall"] if name is None else v["per_type"].get(name)) for v in values.values()]
        lines.append(_table_row(["overall" if name is None else name, *cells]))
    return lines


def _teacher_table(teacher_stats: Mapping[str, dict]) -> list[str]:
    """Per generation step (the seed set, then each iteration): the last job's calls and cache hits,
    and what the step paid over all its jobs (tokens, cost, jobs that paid), and final failures."""
    header = [
        "step",
        "teacher",
        "calls",
        "cache hits",
        "prompt tokens",
        "completion tokens",
        "cost (USD)",
        "jobs paid",
        "failures",
    ]
    lines = ["", "## Teacher", "", _table_row(header), _table_row(["---", "---"] + ["---:"] * 6 + ["---"])]
    for step, stats in teacher_stats.items():
        failures = ", ".join(f"{k} {v}" for k, v in stats.get("failures", {}).items()) or "–"
        lines.append(
            _table_row(
                [
                    step,
                    stats.get("model", stats["teacher"]),
                    str(stats["calls"]),
                    str(stats.get("cache_hits", 0)),
                    str(stats.get("prompt_tokens", 0)),
                    str(stats.get("completion_tokens", 0)),
                    f"{stats['cost_usd']:.4f}",
                    str(stats.get("attempts", 0)),
                    failures,
                ]
            )
        )
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
    lines.append(_table_row(["reason", "meaning", *(f"iter {i}" for i in range(1, len(counts) + 1))]))
    lines.append(_table_row(["---", "---"] + ["---:"] * len(counts)))
    lines += [_table_row([reason, meaning(reason), *(str(c[reason]) for c in counts)]) for reason in reasons]
    return lines + ["", "Each rejection is kept with its reason, detail and reply in `iter_<i>/data/rejected.jsonl`."]


def test_split(metrics: Mapping, iteration: int) -> Mapping:
    test = metrics.get("splits", {}).get("test", {})
    if "per_type" not in test or not {"acc", "n"} <= set(test.get("overall", {})):
        raise ValueError(
            f"metrics of iteration {iteration} lack splits/test/overall (acc, n) or splits/test/per_type "
            "(see docs/contracts.md, metrics.json)"
        )
    return test


def by_type_name(by_id: Mapping, types: TypeTable) -> dict:
    """A dict keyed by type ids (strings, as metrics.json and quotas.json key them) keyed by the types'
    names instead, in type-id order."""
    return {types.name(key): value for key, value in sorted(by_id.items(), key=lambda item: int(item[0]))}


def type_names(by_name: Iterable[Mapping], types: TypeTable) -> list[str]:
    """The type names keying any of `by_name`, in the type table's order."""
    present = {name for mapping in by_name for name in mapping}
    return [name for name in types.names.values() if name in present]


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _with_interval(acc: float | None, entry: Mapping | None) -> str:
    if acc is None:
        return "–"
    return f"{acc:.1f} ({entry['ci_low']:.0f}–{entry['ci_high']:.0f})" if entry else f"{acc:.1f}"


def _change(before: float | None, after: float | None) -> str:
    return "–" if before is None or after is None else f"{after - before:+.1f}"

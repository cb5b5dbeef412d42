"""The report folder from a loaded run: summary.json and summary.md, accuracy.png, types.png, best.json
and index.html, each at the path the report rule names (rules/report.smk)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dataengine.core.jsonl import write_json
from dataengine.report import best, figures, page, summary
from dataengine.report.run import Run

OUTPUTS = ("summary_json", "summary_md", "plot", "type_panels", "best", "page")


def write_report(
    run: Run, models: list[str], reported: Mapping[str, list[dict]], config_text: str, out: Mapping[str, str]
) -> None:
    """Write every file of `OUTPUTS` to its path in `out`; `reported`: the report benchmarks' metrics
    per iteration, by name; `config_text`: the run's resolved config, shown on the page."""
    missing = [name for name in OUTPUTS if name not in out]
    if missing:
        raise ValueError(f"report: no path for {missing}")
    iterations = run.iterations
    metrics_per_iter = [it.metrics for it in iterations]
    plan_files = [it.plan for it in iterations[1:]]
    result = summary.summarize(
        run.name,
        run.config_hash,
        metrics_per_iter,
        [*plan_files, None],
        [0] + [len(it.accepted) for it in iterations[1:]],
        run.types,
        reported,
        [it.changes for it in iterations],
        best.record(metrics_per_iter, models, out["best"]),
    )
    write_json(out["summary_json"], result)
    teacher = {("seed set" if it.number == 0 else str(it.number)): it.generation for it in iterations if it.generation}
    summary.write_summary_md(
        result,
        metrics_per_iter,
        Path(out["summary_md"]),
        run.types,
        teacher_stats=teacher,
        plans=plan_files,
        rejected=[it.rejected for it in iterations[1:]],
        reported=reported,
        accepted=[it.accepted for it in iterations[1:]],
    )
    figures.plot_accuracy(result, metrics_per_iter, Path(out["plot"]), run.types)
    figures.plot_run_types(run, Path(out["type_panels"]))
    page.write_page(
        run, Path(out["plot"]), Path(out["page"]), config_text, Path(out["type_panels"]), result.get("best")
    )

"""A run as the report reads it: per iteration, the evaluation, the plan it was made from, the data the
teacher wrote, the rejections and the training, loaded once from the files the rule lists."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dataengine.core.jsonl import read_json, read_jsonl
from dataengine.core.qtypes import TypeTable
from dataengine.report import paired


@dataclass
class Iteration:
    """Iteration i: its model's evaluation, and (i >= 1) the plan made from iteration i-1's evaluation,
    the teacher's samples and rejections, and the training that made its model. Iteration 0 holds the
    tiny student's seed set (no plan) when there is one."""

    number: int
    metrics: dict
    bad_cases: list[dict]
    plan: dict | None = None
    queries: list[dict] = field(default_factory=list)
    accepted: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    generation: dict | None = None
    train_log: dict | None = None
    changes: dict | None = None  # i >= 1: the test split's change from i-1, paired on the items


@dataclass
class Run:
    name: str
    config_hash: str
    iterations: list[Iteration]
    pool_dir: Path
    benchmark_dir: Path
    timings: list[dict]  # one per job: {"job", "seconds", "max_rss_mb"}
    types: TypeTable  # the run's question types (dataengine.core.qtypes.run_types)


def load_run(
    name: str,
    config_hash: str,
    metrics: list[str],
    bad_cases: list[str],
    plans: list[str],
    queries: list[str],
    accepted: list[str],
    rejected: list[str],
    generation: list[str],
    models: list[str],
    pool_dir: str,
    benchmark_dir: str,
    types: TypeTable,
    timings_dirs: list[str] = (),
) -> Run:
    """The run of question types `types` from its files: `metrics`, `bad_cases` and `models` for
    iterations 0..N; `plans` for 1..N; `queries`, `accepted`, `generation` for 0..N where there is a seed
    set, else 1..N, and `rejected` alike; a model without train_log.json (a real base model) has no
    training. The predictions beside each metrics.json (one evaluate job writes both) give the paired
    changes."""
    count = len(metrics)
    if not len(bad_cases) == len(models) == count or len(plans) != count - 1:
        raise ValueError(
            f"report: {count} evaluations, {len(bad_cases)} bad-case files, {len(models)} models and "
            f"{len(plans)} plans; expected one evaluation, bad-case file and model per iteration "
            "and one plan per iteration after the first"
        )
    offset = count - len(accepted)  # 0 with a seed set (iteration 0 has data), else 1
    predictions = [_predictions(Path(path)) for path in metrics]
    iterations = []
    for i in range(count):
        log = Path(models[i]) / "train_log.json"
        iteration = Iteration(
            i, read_json(metrics[i]), read_jsonl(bad_cases[i]), train_log=read_json(log) if log.is_file() else None
        )
        if i >= 1:
            iteration.plan = read_json(plans[i - 1])
            if predictions[i - 1] is not None and predictions[i] is not None:
                iteration.changes = paired.changes(predictions[i - 1], predictions[i], types)
        if i >= offset:
            j = i - offset
            iteration.queries, iteration.accepted = read_jsonl(queries[j]), read_jsonl(accepted[j])
            iteration.rejected = read_jsonl(rejected[j])
            iteration.generation = read_json(generation[j])
        iterations.append(iteration)
    timings = [t for folder in dict.fromkeys(timings_dirs) for t in read_timings(Path(folder))]
    return Run(name, config_hash, iterations, Path(pool_dir), Path(benchmark_dir), timings, types)


def _predictions(metrics: Path) -> pl.DataFrame | None:
    """The per-item verdicts written beside a metrics.json (RunLayout.predictions), if there are any."""
    path = metrics.with_name("predictions.parquet")
    return pl.read_parquet(path, columns=["id", "qtype", "split", "correct"]) if path.is_file() else None


def read_timings(folder: Path) -> list[dict]:
    """Wall time and peak memory of every job from Snakemake's benchmark files (`benchmark:`)."""
    timings = []
    for tsv in sorted(folder.glob("*.tsv")):
        with tsv.open() as rows:
            for row in csv.DictReader(rows, delimiter="\t"):
                rss = row.get("max_rss", "")
                timings.append(
                    {
                        "job": tsv.stem,
                        "seconds": float(row["s"]),
                        "max_rss_mb": float(rss) if rss not in ("", "NA", "-") else None,
                    }
                )
    return timings

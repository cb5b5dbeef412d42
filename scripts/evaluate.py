"""Snakemake entry point: score the benchmark with one iteration's model."""

from dataengine import pipeline
from dataengine.core.config import runtime_knobs
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import run_types

with job_logging(snakemake.log[0]):
    pipeline.evaluate(
        model_dir=snakemake.input.model,
        items=snakemake.input.benchmark,
        out_predictions=snakemake.output.predictions,
        out_metrics=snakemake.output.metrics,
        out_bad_cases=snakemake.output.bad_cases,
        scoring=snakemake.params.scoring,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        dtype=snakemake.params.dtype,
        extractor=runtime_knobs(snakemake.config, "evaluate.extractor"),
        loader_workers=runtime_knobs(snakemake.config, "loader_workers"),
        family=snakemake.params.family,
        report_to=runtime_knobs(snakemake.config, "train.report_to"),
        types=run_types(snakemake.config),
    )

"""Snakemake entry point: the experiment's comparison of sampling strategies."""

from dataengine import pipeline
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import run_types

with job_logging(snakemake.log[0]):
    pipeline.compare_strategies(
        arms=snakemake.params.arms,
        summaries=snakemake.input.summaries,
        default=snakemake.params.default,
        types=run_types(snakemake.config),
        out_json=snakemake.output.json,
        out_md=snakemake.output.md,
        out_plot=snakemake.output.plot,
    )

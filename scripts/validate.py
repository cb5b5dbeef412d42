"""Snakemake entry point: validate teacher responses into accepted and rejected samples."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params
from dataengine.core.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.validate(
        responses=snakemake.input.responses,
        queries=snakemake.input.queries,
        out_accepted=snakemake.output.accepted,
        out_rejected=snakemake.output.rejected,
        iteration=int(snakemake.wildcards.i),
        teacher=knobs_from_params(snakemake.params, "teacher"),
        benchmark_items=snakemake.input.benchmark,
        contamination_cfg=knobs_from_params(snakemake.params, "contamination"),
    )

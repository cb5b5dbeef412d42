"""Snakemake entry point: build the evaluation benchmark."""

from dataengine import pipeline
from dataengine.config import knobs_from_params
from dataengine.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.build_benchmark(
        out_items=snakemake.output.table,
        qtypes=snakemake.params.qtypes,
        cfg=knobs_from_params(snakemake.params, "benchmark"),
        seed=snakemake.params.seed,
    )

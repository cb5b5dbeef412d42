"""Snakemake entry point: build the evaluation benchmark."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params
from dataengine.core.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.build_benchmark(
        out_items=snakemake.output.table,
        qtypes=snakemake.params.qtypes,
        # A report benchmark's section comes as one param; the main benchmark's as a param per knob.
        cfg=snakemake.params.get("section") or knobs_from_params(snakemake.params, "benchmark"),
        seed=snakemake.params.seed,
    )

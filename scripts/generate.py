"""Snakemake entry point: the teacher answers one iteration's generation queries."""

from dataengine import pipeline
from dataengine.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.generate(
        queries=snakemake.input.queries,
        out_responses=snakemake.output.responses,
        teacher=snakemake.params.teacher,
        seed=snakemake.params.seed,
    )

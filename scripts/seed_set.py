"""Snakemake entry point: the imbalanced seed instruction set of the base model."""

from dataengine import pipeline
from dataengine.core.config import runtime_knobs
from dataengine.core.joblog import job_logging

teacher = {**runtime_knobs(snakemake.config, "teacher", 0), "cache": snakemake.params.cache}

with job_logging(snakemake.log[0]):
    pipeline.seed_set(
        pool_annotations=snakemake.input.pool,
        out_queries=snakemake.output.queries,
        out_accepted=snakemake.output.accepted,
        out_rejected=snakemake.output.rejected,
        out_stats=snakemake.output.stats,
        per_type=snakemake.params.per_type,
        qtypes=snakemake.params.qtypes,
        teacher=teacher,
        seed=snakemake.params.seed,
    )

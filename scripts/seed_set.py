"""Snakemake entry point: the imbalanced seed instruction set of the base model."""

from dataengine import pipeline
from dataengine.core.config import runtime_knobs
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import known_types
from dataengine.teacher import taught_types

teacher = {
    **runtime_knobs(snakemake.config, "teacher", 0),
    "cache": snakemake.params.cache,
    "types": known_types(snakemake.config),
}

with job_logging(snakemake.log[0]):
    pipeline.seed_set(
        pool_annotations=snakemake.input.pool,
        out_queries=snakemake.output.queries,
        out_accepted=snakemake.output.accepted,
        out_rejected=snakemake.output.rejected,
        out_stats=snakemake.output.stats,
        per_type=snakemake.params.per_type,
        qtypes=taught_types(teacher, snakemake.config),
        teacher=teacher,
        seed=snakemake.params.seed,
    )

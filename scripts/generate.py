"""Snakemake entry point: the teacher answers one iteration's generation queries."""

from dataengine import pipeline
from dataengine.core.config import runtime_knobs
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import known_types

teacher = {
    **runtime_knobs(snakemake.config, "teacher", int(snakemake.wildcards.i)),
    "cache": snakemake.params.cache,
    "types": known_types(snakemake.config),
}
with job_logging(snakemake.log[0]):
    pipeline.generate(
        queries=snakemake.input.queries,
        out_responses=snakemake.output.responses,
        out_stats=snakemake.output.stats,
        teacher=teacher,
        seed=snakemake.params.seed,
    )

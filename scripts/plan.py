"""Snakemake entry point: the plan (Adaptive Bad-case Sampling) of the next iteration's data."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params
from dataengine.core.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.plan(
        metrics=snakemake.input.metrics,
        bad_cases=snakemake.input.bad_cases,
        pool_annotations=snakemake.input.pool,
        benchmark_images=snakemake.input.benchmark_images,
        used_queries=snakemake.input.used,
        out_quotas=snakemake.output.quotas,
        out_queries=snakemake.output.queries,
        iteration=int(snakemake.wildcards.i),
        cfg=knobs_from_params(snakemake.params, "sampling"),
        seed=snakemake.params.seed,
        pool_embeddings=snakemake.input.embeddings,
        retrieval=knobs_from_params(snakemake.params, "retrieval"),
        earlier_metrics=snakemake.input.earlier_metrics,
        earlier_quotas=snakemake.input.earlier_quotas,
    )

"""Snakemake entry point: embed the pool images once (the cache similar-image retrieval ranks from)."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params, runtime_knobs
from dataengine.core.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.embed_pool(
        pool_annotations=snakemake.input.pool,
        out_embeddings=snakemake.output.embeddings,
        retrieval=knobs_from_params(snakemake.params, "retrieval"),
        threads=snakemake.threads,
        loader_workers=runtime_knobs(snakemake.config, "loader_workers"),
    )

"""Snakemake entry point: build and pre-train the tiny student (iteration 0)."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params, runtime_knobs
from dataengine.core.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.base_model(
        pool_annotations=snakemake.input.pool,
        seed_set=snakemake.input.seed_set,
        out_dir=snakemake.output.model,
        tiny=knobs_from_params(snakemake.params, "tiny"),
        image_size=snakemake.params.image_size,
        views=snakemake.params.views,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        loader_workers=runtime_knobs(snakemake.config, "loader_workers"),
        family=snakemake.params.family,
    )

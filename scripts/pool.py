"""Snakemake entry point: build the generation image pool, disjoint from the benchmark."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import own_categories

with job_logging(snakemake.log[0]):
    pipeline.build_pool(
        benchmark_items=snakemake.input.benchmark,
        out_annotations=snakemake.output.annotations,
        qtypes=None if own_categories(snakemake.config["benchmark"]) else snakemake.params.qtypes,
        cfg=knobs_from_params(snakemake.params, "pool"),
        image_size=snakemake.params.image_size,
        seed=snakemake.params.seed,
        world=snakemake.params.world,
    )

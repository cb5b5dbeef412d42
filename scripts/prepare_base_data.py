"""Snakemake entry point: check LLaVA's conversation data and write its training records."""

from dataengine.core.joblog import job_logging
from dataengine.train.conversations import prepare

with job_logging(snakemake.log[0]):
    prepare(
        path=snakemake.input.conversations,
        image_dir=snakemake.params.image_dir,
        out=snakemake.output.records,
        stats_out=snakemake.output.stats,
        missing_images=snakemake.params.missing_images,
    )

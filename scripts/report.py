"""Snakemake entry point: summary.json, summary.md, the accuracy plot and the sample gallery."""

from dataengine import pipeline
from dataengine.joblog import job_logging

with job_logging(snakemake.log[0]):
    pipeline.report(
        run=snakemake.params.run,
        config_hash=snakemake.params.config_hash,
        metrics=snakemake.input.metrics,
        quotas=snakemake.input.quotas,
        accepted=snakemake.input.accepted,
        rejected=snakemake.input.rejected,
        generation=snakemake.input.generation,
        seed_set_generation=snakemake.input.seed_set_generation,
        pool_images=snakemake.input.pool_images,
        out_summary_json=snakemake.output.summary_json,
        out_summary_md=snakemake.output.summary_md,
        out_plot=snakemake.output.plot,
        out_gallery=snakemake.output.gallery,
    )

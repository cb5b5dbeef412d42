"""Snakemake entry point: fine-tune the previous model on this iteration's data plus replay."""

from dataengine import pipeline
from dataengine.core.config import knobs_from_params, runtime_knobs
from dataengine.core.joblog import job_logging

with job_logging(snakemake.log.job):
    pipeline.train(
        model_dir=snakemake.input.model,
        accepted=snakemake.input.get("accepted"),  # none for from_start's iteration 0
        replay_sources=snakemake.input.get("replay", []),
        pool_images=snakemake.input.pool_images,
        out_dir=snakemake.output.model,
        iteration=int(snakemake.wildcards.get("i", 0)),
        cfg=knobs_from_params(snakemake.params, "train"),
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        dtype=snakemake.params.dtype,
        workers_log=snakemake.log.workers,
        loader_workers=runtime_knobs(snakemake.config, "loader_workers"),
        family=snakemake.params.family,
        report_to=runtime_knobs(snakemake.config, "train.report_to"),
        base_records=next(iter(snakemake.input.base_records), None),  # a list: empty unless from_start
        base_images=snakemake.params.base_images,
    )

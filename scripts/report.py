"""Snakemake entry point: the run's report folder (summary, figures, the recommended model, the page)."""

from dataengine import pipeline
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import run_types

# The report benchmarks' metrics come benchmark by benchmark, one file per iteration.
names, files = snakemake.params.report_benchmarks, list(snakemake.input.reported)
per_name = len(files) // max(1, len(names))

with job_logging(snakemake.log[0]):
    pipeline.report(
        run=snakemake.params.run,
        config_hash=snakemake.params.config_hash,
        metrics=snakemake.input.metrics,
        bad_cases=snakemake.input.bad_cases,
        plans=snakemake.input.plans,
        queries=[*snakemake.input.seed_queries, *snakemake.input.queries],
        accepted=snakemake.input.accepted,
        rejected=snakemake.input.rejected,
        generation=snakemake.input.generation,
        models=snakemake.input.models,
        pool_images=snakemake.input.pool_images,
        benchmark_images=snakemake.input.benchmark_images,
        timings=snakemake.params.timings,
        config_file=snakemake.params.config_file,
        types=run_types(snakemake.config),
        out=dict(snakemake.output.items()),
        reported={name: files[k * per_name : (k + 1) * per_name] for k, name in enumerate(names)},
    )

"""Snakemake entry point: the experiment's comparison of sampling strategies."""

from dataengine import pipeline
from dataengine.core.joblog import job_logging
from dataengine.core.qtypes import run_types

with job_logging(snakemake.log[0]):
    iterations = len(snakemake.input.predictions) // len(snakemake.params.arms)
    arms = [
        {**arm, "summary": summary, "predictions": snakemake.input.predictions[n * iterations : (n + 1) * iterations]}
        for n, (arm, summary) in enumerate(zip(snakemake.params.arms, snakemake.input.summaries, strict=True))
    ]
    pipeline.compare_strategies(
        arms=arms,
        default=snakemake.params.default,
        types=run_types(snakemake.config),
        out_json=snakemake.output.json,
        out_md=snakemake.output.md,
        out_plot=snakemake.output.plot,
    )

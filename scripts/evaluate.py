"""Snakemake entry point: score the benchmark with one iteration's model."""

from dataengine import pipeline
from dataengine.joblog import job_logging

# params.extractor holds the extractor knobs that decide its answers (kind, model, base_url); the
# runtime ones (api_key_env, the variable's name only, timeout_s, max_retries) come from the config.
extractor = {**snakemake.config["evaluate"]["extractor"], **snakemake.params.extractor}
with job_logging(snakemake.log[0]):
    pipeline.evaluate(
        model_dir=snakemake.input.model,
        items=snakemake.input.benchmark,
        out_predictions=snakemake.output.predictions,
        out_metrics=snakemake.output.metrics,
        out_bad_cases=snakemake.output.bad_cases,
        scoring=snakemake.params.scoring,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        dtype=snakemake.params.dtype,
        extractor=extractor,
        loader_workers=snakemake.config["loader_workers"],  # reruns nothing: results do not depend on it
    )

# Adaptive Bad-case Sampling: iteration i's evaluation plans iteration i+1's data.


rule sample:
    input:
        metrics=rules.evaluate.output.metrics,
        bad_cases=rules.evaluate.output.bad_cases,
        pool=rules.build_pool.output.annotations,
        pool_images=rules.build_pool.output.images,
        benchmark_images=rules.build_benchmark.output.images,
        used=earlier_queries,
    output:
        quotas=f"{RUN}/iter_{{i}}/plan/quotas.json",
        queries=f"{RUN}/iter_{{i}}/plan/queries.jsonl",
    log:
        f"{RUN}/logs/sample_{{i}}.log",
    benchmark:
        f"{RUN}/benchmarks/sample_{{i}}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        sampling=sampling_knobs,
        seed=config["seed"],
    script:
        "../scripts/sample.py"

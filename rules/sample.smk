# Adaptive Bad-case Sampling: iteration i's evaluation plans iteration i+1's data.


rule sample:
    input:
        metrics=rules.evaluate.output.metrics,
        bad_cases=rules.evaluate.output.bad_cases,
        pool=rules.build_pool.output.annotations,
        pool_images=rules.build_pool.output.images,
        embeddings=rules.embed_pool.output.embeddings,
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
        "../envs/torch.yaml"  # a CLIP encoder ranks the bad cases' images
    params:
        sampling=sampling_knobs,
        retrieval=config["retrieval"],
        seed=config["seed"],
    script:
        "../scripts/sample.py"

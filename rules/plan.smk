# Adaptive Bad-case Sampling: iteration i's evaluation plans iteration i+1's data.


rule plan:
    input:
        metrics=evaluation("metrics.json"),
        bad_cases=evaluation("bad_cases.jsonl"),
        earlier_metrics=earlier_metrics,
        earlier_quotas=earlier_quotas,
        pool=rules.build_pool.output.annotations,
        pool_images=rules.build_pool.output.images,
        embeddings=rules.embed_pool.output.embeddings,
        benchmark_images=rules.build_benchmark.output.images,
        used=earlier_queries,
    output:
        quotas=f"{ARM}/iter_{{i}}/plan/quotas.json",
        queries=f"{ARM}/iter_{{i}}/plan/queries.jsonl",
    log:
        f"{ARM}/logs/plan_{{i}}.log",
    benchmark:
        f"{ARM}/benchmarks/plan_{{i}}.tsv"
    conda:
        "../envs/torch.yaml"  # a CLIP encoder ranks the bad cases' images
    params:
        sampling=sampling_knobs,
        retrieval=config["retrieval"],
        seed=run_seed,
    script:
        "../scripts/plan.py"

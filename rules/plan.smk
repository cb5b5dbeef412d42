# Adaptive Bad-case Sampling: the plan of iteration i's data, from iteration i-1's evaluation.


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
        quotas=report(
            LAYOUT.quotas("{i}"),
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="plan",
        ),
        queries=LAYOUT.queries("{i}"),
    log:
        LAYOUT.log("plan_{i}"),
    benchmark:
        LAYOUT.timing("plan_{i}")
    wildcard_constraints:
        i=r"[1-9]\d*",
    conda:
        "../envs/torch.yaml"  # a CLIP encoder ranks the bad cases' images
    params:
        **section_params("sampling", config["sampling"], sampling_knobs),
        **section_params("retrieval", config["retrieval"]),
        seed=run_seed,
    script:
        "../scripts/plan.py"

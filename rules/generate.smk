rule generate:
    input:
        queries=plan_queries,
        prompts=teacher_prompts,
    output:
        responses=f"{ARM}/iter_{{i}}/data/responses.jsonl",
        stats=f"{ARM}/iter_{{i}}/data/generation.json",
    log:
        f"{ARM}/logs/generate_{{i}}.log",
    benchmark:
        f"{ARM}/benchmarks/generate_{{i}}.tsv"
    wildcard_constraints:
        i=r"[1-9]\d*",
    conda:
        "../envs/generation.yaml"
    params:
        **section_params("teacher", result_knobs(config["teacher"]), teacher_knobs),
        cache=TEACHER_CACHE,
        seed=run_seed,
    script:
        "../scripts/generate.py"

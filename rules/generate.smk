rule generate:
    input:
        queries=plan_queries,
        prompts=teacher_prompts,
    output:
        responses=LAYOUT.responses("{i}"),
        stats=LAYOUT.generation("{i}"),
    log:
        LAYOUT.log("generate_{i}"),
    benchmark:
        LAYOUT.timing("generate_{i}")
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

rule generate:
    input:
        queries=previous_queries,
    output:
        responses=f"{RUN}/iter_{{i}}/data/responses.jsonl",
    log:
        f"{RUN}/logs/generate_{{i}}.log",
    benchmark:
        f"{RUN}/benchmarks/generate_{{i}}.tsv"
    wildcard_constraints:
        i=r"[1-9]\d*",
    conda:
        "../envs/generation.yaml"
    params:
        teacher=teacher_knobs,
        seed=config["seed"],
    script:
        "../scripts/generate.py"

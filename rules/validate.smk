rule validate:
    input:
        responses=rules.generate.output.responses,
        queries=previous_queries,
    output:
        accepted=f"{RUN}/iter_{{i}}/data/accepted.jsonl",
        rejected=f"{RUN}/iter_{{i}}/data/rejected.jsonl",
    log:
        f"{RUN}/logs/validate_{{i}}.log",
    wildcard_constraints:
        i=r"[1-9]\d*",
    conda:
        "../envs/data.yaml"
    params:
        teacher=teacher_knobs,
    script:
        "../scripts/validate.py"

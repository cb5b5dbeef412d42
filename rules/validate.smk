rule validate:
    input:
        responses=rules.generate.output.responses,
        queries=plan_queries,
        benchmark=rules.build_benchmark.output.table,
    output:
        accepted=report(
            f"{ARM}/iter_{{i}}/data/accepted.jsonl",
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="data",
        ),
        rejected=report(
            f"{ARM}/iter_{{i}}/data/rejected.jsonl",
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="data",
        ),
    log:
        f"{ARM}/logs/validate_{{i}}.log",
    benchmark:
        f"{ARM}/benchmarks/validate_{{i}}.tsv"
    wildcard_constraints:
        i=r"[1-9]\d*",
    conda:
        "../envs/data.yaml"
    params:
        **section_params("teacher", result_knobs(config["teacher"]), teacher_knobs),
        **section_params("contamination", CONTAMINATION),
    script:
        "../scripts/validate.py"

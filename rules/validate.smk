rule validate:
    input:
        responses=rules.generate.output.responses,
        queries=plan_queries,
        benchmark=rules.build_benchmark.output.table,
    output:
        accepted=report(
            LAYOUT.accepted("{i}"),
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="data",
        ),
        rejected=report(
            LAYOUT.rejected("{i}"),
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="data",
        ),
    log:
        LAYOUT.log("validate_{i}"),
    benchmark:
        LAYOUT.timing("validate_{i}")
    wildcard_constraints:
        i=r"[1-9]\d*",
    conda:
        "../envs/data.yaml"
    params:
        **section_params("teacher", result_knobs(config["teacher"]), teacher_knobs),
        **section_params("contamination", CONTAMINATION),
    script:
        "../scripts/validate.py"

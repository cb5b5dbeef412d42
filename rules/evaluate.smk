# Evaluation of iteration i's model on the benchmark; iteration 0's (the base model) is shared by
# every arm of an experiment seed, hence its own rule writing into the base folder.


rule evaluate:
    input:
        model=model_to_evaluate,
        benchmark=rules.build_benchmark.output.table,
        images=rules.build_benchmark.output.images,
    output:
        predictions=LAYOUT.predictions("{i}"),
        metrics=report(
            LAYOUT.metrics("{i}"),
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="evaluation",
        ),
        bad_cases=LAYOUT.bad_cases("{i}"),
    log:
        LAYOUT.log("evaluate_{i}"),
    benchmark:
        LAYOUT.timing("evaluate_{i}")
    wildcard_constraints:
        i=r"[1-9]\d*",
    # Evaluation is stateless: a job lost with its node is simply run again.
    retries: 2
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    # The knobs that decide the LLM choice extractor's answers are params; its key's variable,
    # timeout and retries are read by the job from the config, so changing them reruns nothing.
    params:
        **section_params("extractor", result_knobs(config["evaluate"]["extractor"])),
        scoring=config["student"]["scoring"],
        batch_size=config["evaluate"]["batch_size"],
        dtype=config["student"]["dtype"],
        family=config["student"]["family"],
    script:
        "../scripts/evaluate.py"


use rule evaluate as evaluate_base with:
    output:
        predictions=LAYOUT.predictions(0),
        metrics=report(
            LAYOUT.metrics(0),
            caption="../report/iteration.rst",
            category="Iteration 0",
            subcategory="evaluation",
        ),
        bad_cases=LAYOUT.bad_cases(0),
    log:
        LAYOUT.log("evaluate_0", at="base"),
    benchmark:
        LAYOUT.timing("evaluate_0", at="base")


# Every iteration's model on each report benchmark (report_benchmarks): reported, never sampled from.
use rule evaluate as evaluate_report with:
    input:
        model=model_to_evaluate,
        benchmark=rules.build_report_benchmark.output.table,
        images=rules.build_report_benchmark.output.images,
    output:
        predictions=LAYOUT.predictions("{i}", "{bench}"),
        metrics=LAYOUT.metrics("{i}", "{bench}"),
        bad_cases=LAYOUT.bad_cases("{i}", "{bench}"),
    log:
        LAYOUT.log("evaluate_{bench}_{i}"),
    benchmark:
        LAYOUT.timing("evaluate_{bench}_{i}")


use rule evaluate_report as evaluate_report_base with:
    output:
        predictions=LAYOUT.predictions(0, "{bench}"),
        metrics=LAYOUT.metrics(0, "{bench}"),
        bad_cases=LAYOUT.bad_cases(0, "{bench}"),
    log:
        LAYOUT.log("evaluate_{bench}_0", at="base"),
    benchmark:
        LAYOUT.timing("evaluate_{bench}_0", at="base")

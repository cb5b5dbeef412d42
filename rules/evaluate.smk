# Evaluation of iteration i's model on the benchmark; iteration 0's (the base model) is shared by
# every arm of an experiment seed, hence its own rule writing into the base folder.


rule evaluate:
    input:
        model=model_to_evaluate,
        benchmark=rules.build_benchmark.output.table,
        images=rules.build_benchmark.output.images,
    output:
        predictions=f"{ARM}/iter_{{i}}/eval/predictions.parquet",
        metrics=report(
            f"{ARM}/iter_{{i}}/eval/metrics.json",
            caption="../report/iteration.rst",
            category="Iteration {i}",
            subcategory="evaluation",
        ),
        bad_cases=f"{ARM}/iter_{{i}}/eval/bad_cases.jsonl",
    log:
        f"{ARM}/logs/evaluate_{{i}}.log",
    benchmark:
        f"{ARM}/benchmarks/evaluate_{{i}}.tsv"
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
        predictions=f"{BASE}/iter_0/eval/predictions.parquet",
        metrics=report(
            f"{BASE}/iter_0/eval/metrics.json",
            caption="../report/iteration.rst",
            category="Iteration 0",
            subcategory="evaluation",
        ),
        bad_cases=f"{BASE}/iter_0/eval/bad_cases.jsonl",
    log:
        f"{BASE}/logs/evaluate_0.log",
    benchmark:
        f"{BASE}/benchmarks/evaluate_0.tsv"


# Every iteration's model on each report benchmark (report_benchmarks): reported, never sampled from.
use rule evaluate as evaluate_report with:
    input:
        model=model_to_evaluate,
        benchmark=rules.build_report_benchmark.output.table,
        images=rules.build_report_benchmark.output.images,
    output:
        predictions=f"{ARM}/iter_{{i}}/eval_{{bench}}/predictions.parquet",
        metrics=f"{ARM}/iter_{{i}}/eval_{{bench}}/metrics.json",
        bad_cases=f"{ARM}/iter_{{i}}/eval_{{bench}}/bad_cases.jsonl",
    log:
        f"{ARM}/logs/evaluate_{{bench}}_{{i}}.log",
    benchmark:
        f"{ARM}/benchmarks/evaluate_{{bench}}_{{i}}.tsv"


use rule evaluate_report as evaluate_report_base with:
    output:
        predictions=f"{BASE}/iter_0/eval_{{bench}}/predictions.parquet",
        metrics=f"{BASE}/iter_0/eval_{{bench}}/metrics.json",
        bad_cases=f"{BASE}/iter_0/eval_{{bench}}/bad_cases.jsonl",
    log:
        f"{BASE}/logs/evaluate_{{bench}}_0.log",
    benchmark:
        f"{BASE}/benchmarks/evaluate_{{bench}}_0.tsv"

rule evaluate:
    input:
        model=model_to_evaluate,
        benchmark=rules.build_benchmark.output.table,
        images=rules.build_benchmark.output.images,
    output:
        predictions=f"{RUN}/iter_{{i}}/eval/predictions.parquet",
        metrics=f"{RUN}/iter_{{i}}/eval/metrics.json",
        bad_cases=f"{RUN}/iter_{{i}}/eval/bad_cases.jsonl",
    log:
        f"{RUN}/logs/evaluate_{{i}}.log",
    benchmark:
        f"{RUN}/benchmarks/evaluate_{{i}}.tsv"
    # Evaluation is stateless: a job lost with its node is simply run again.
    retries: 2
    conda:
        "../envs/torch.yaml"
    threads: config["threads"]
    params:
        scoring=config["student"]["scoring"],
        batch_size=config["evaluate"]["batch_size"],
        dtype=config["student"]["dtype"],
    script:
        "../scripts/evaluate.py"

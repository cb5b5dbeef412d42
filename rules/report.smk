# The run's report from its files: summary.json (a public contract), summary.md, accuracy.png, and
# index.html, the story of the run iteration by iteration. Iteration 0 holds the tiny student's seed
# set, generated (and paid for, with the openai teacher) like the iterations' data.


rule report:
    input:
        metrics=run_files("{dir}/eval/metrics.json", range(LAST + 1)),
        bad_cases=run_files("{dir}/eval/bad_cases.jsonl", range(LAST + 1)),
        plans=run_files("{plan}/quotas.json", range(1, LAST + 1)),
        queries=run_files("{plan}/queries.jsonl", range(1, LAST + 1)),
        seed_queries=run_files("{dir}/data/queries.jsonl", [0] if TINY else []),
        accepted=run_files("{dir}/data/accepted.jsonl", DATA_ITERATIONS),
        rejected=run_files("{dir}/data/rejected.jsonl", DATA_ITERATIONS),
        generation=run_files("{dir}/data/generation.json", DATA_ITERATIONS),
        models=run_models,
        pool_images=rules.build_pool.output.images,
        benchmark_images=rules.build_benchmark.output.images,
        reported=reported_metrics,
    output:
        summary_json=f"{ARM}/report/summary.json",
        summary_md=f"{ARM}/report/summary.md",
        plot=report(
            f"{ARM}/report/accuracy.png",
            caption="../report/accuracy.rst",
            category="Summary",
        ),
        page=report(
            f"{ARM}/report/index.html",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        f"{ARM}/logs/report.log",
    benchmark:
        f"{ARM}/benchmarks/report.tsv"
    conda:
        "../envs/report.yaml"
    params:
        run=arm_name,
        config_hash=arm_config_hash,
        timings=timing_folders,
        config_file=f"{RUN}/config.yaml",
        report_benchmarks=list(REPORT_BENCHMARKS),
    script:
        "../scripts/report.py"

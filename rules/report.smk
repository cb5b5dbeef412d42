# The run's report from its files: summary.json (a public contract), summary.md, best.json (the model the
# run recommends), accuracy.png, types.png (a panel per type) and index.html, the story of the run iteration
# by iteration. Iteration 0 holds the tiny student's seed set, generated (and paid for, with the openai
# teacher) like the iterations' data.


rule report:
    input:
        metrics=run_files("metrics", range(LAST + 1)),
        bad_cases=run_files("bad_cases", range(LAST + 1)),
        plans=run_files("quotas", range(1, LAST + 1)),
        queries=run_files("queries", range(1, LAST + 1)),
        seed_queries=run_files("queries", [0] if TINY else []),
        accepted=run_files("accepted", DATA_ITERATIONS),
        rejected=run_files("rejected", DATA_ITERATIONS),
        generation=run_files("generation", DATA_ITERATIONS),
        models=run_models,
        pool_images=rules.build_pool.output.images,
        benchmark_images=rules.build_benchmark.output.images,
        reported=reported_metrics,
    output:
        summary_json=f"{LAYOUT.report}/summary.json",
        summary_md=f"{LAYOUT.report}/summary.md",
        best=f"{LAYOUT.report}/best.json",
        plot=report(
            f"{LAYOUT.report}/accuracy.png",
            caption="../report/accuracy.rst",
            category="Summary",
        ),
        type_panels=report(
            f"{LAYOUT.report}/types.png",
            caption="../report/types.rst",
            category="Summary",
        ),
        page=report(
            f"{LAYOUT.report}/index.html",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        LAYOUT.log("report"),
    benchmark:
        LAYOUT.timing("report")
    conda:
        "../envs/report.yaml"
    params:
        run=arm_name,
        config_hash=arm_config_hash,
        timings=timing_folders,
        config_file=RunLayout.of(RUN).config,
        report_benchmarks=list(REPORT_BENCHMARKS),
    script:
        "../scripts/report.py"

rule report:
    input:
        metrics=run_files("{dir}/eval/metrics.json", range(LAST + 1)),
        quotas=run_files("{plan}/quotas.json", range(LAST)),
        accepted=run_files("{dir}/data/accepted.jsonl", range(1, LAST + 1)),
        rejected=run_files("{dir}/data/rejected.jsonl", range(1, LAST + 1)),
        generation=run_files("{dir}/data/generation.json", range(1, LAST + 1)),
        # The tiny student's seed set is generated too (and paid for, with the openai teacher).
        seed_set_generation=run_files("{dir}/data/generation.json", [0] if TINY else []),
        pool_images=rules.build_pool.output.images,
    output:
        summary_json=f"{ARM}/report/summary.json",
        summary_md=report(
            f"{ARM}/report/summary.md",
            caption="../report/summary.rst",
            category="Summary",
        ),
        plot=report(
            f"{ARM}/report/accuracy.png",
            caption="../report/accuracy.rst",
            category="Summary",
        ),
        gallery=report(
            f"{ARM}/report/gallery.html",
            caption="../report/gallery.rst",
            category="Generated data",
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
    script:
        "../scripts/report.py"

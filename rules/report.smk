rule summarize:
    input:
        metrics=expand(f"{RUN}/iter_{{i}}/eval/metrics.json", i=range(LAST + 1)),
        quotas=expand(f"{RUN}/iter_{{i}}/plan/quotas.json", i=range(LAST)),
        accepted=expand(f"{RUN}/iter_{{i}}/data/accepted.jsonl", i=range(1, LAST + 1)),
        rejected=expand(f"{RUN}/iter_{{i}}/data/rejected.jsonl", i=range(1, LAST + 1)),
        generation=expand(
            f"{RUN}/iter_{{i}}/data/generation.json", i=range(1, LAST + 1)
        ),
        pool_images=rules.build_pool.output.images,
    output:
        summary_json=f"{RUN}/report/summary.json",
        summary_md=report(
            f"{RUN}/report/summary.md",
            caption="../report/summary.rst",
            category="Summary",
        ),
        plot=report(
            f"{RUN}/report/accuracy.png",
            caption="../report/accuracy.rst",
            category="Summary",
        ),
        gallery=report(
            f"{RUN}/report/gallery.html",
            caption="../report/gallery.rst",
            category="Generated data",
        ),
    log:
        f"{RUN}/logs/report.log",
    benchmark:
        f"{RUN}/benchmarks/report.tsv"
    conda:
        "../envs/report.yaml"
    params:
        run=config["run"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/report.py"

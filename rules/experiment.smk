# Comparing sampling strategies (config `experiment`): every arm's summary side by side.


rule compare_strategies:
    input:
        summaries=[fill(f"{ARM}/report/summary.json", arm) for arm in experiment_arms()],
    output:
        json=f"{RUN}/report/experiment.json",
        md=report(
            f"{RUN}/report/experiment.md",
            caption="../report/experiment.rst",
            category="Strategies",
        ),
        plot=report(
            f"{RUN}/report/experiment.png",
            caption="../report/experiment.rst",
            category="Strategies",
        ),
    log:
        f"{RUN}/logs/compare_strategies.log",
    benchmark:
        f"{RUN}/benchmarks/compare_strategies.tsv"
    conda:
        "../envs/report.yaml"
    params:
        arms=experiment_arms(),
        default=config["sampling"]["strategy"],
    script:
        "../scripts/compare_strategies.py"

# Comparing sampling strategies (config `experiment`): every arm's summary side by side.


rule compare_strategies:
    input:
        summaries=[
            fill(f"{LAYOUT.report}/summary.json", arm) for arm in experiment_arms()
        ],
        # Each arm's predictions of every iteration, arm by arm: the arms' paired tests on the items.
        predictions=[
            fill(LAYOUT.predictions(i), arm)
            for arm in experiment_arms()
            for i in range(LAST + 1)
        ],
    output:
        json=f"{RunLayout.of(RUN).report}/experiment.json",
        md=report(
            f"{RunLayout.of(RUN).report}/experiment.md",
            caption="../report/experiment.rst",
            category="Strategies",
        ),
        plot=report(
            f"{RunLayout.of(RUN).report}/experiment.png",
            caption="../report/experiment.rst",
            category="Strategies",
        ),
    log:
        RunLayout.of(RUN).log("compare_strategies"),
    benchmark:
        RunLayout.of(RUN).timing("compare_strategies")
    conda:
        "../envs/report.yaml"
    params:
        arms=experiment_arms(),
        default=config["sampling"]["strategy"],
    script:
        "../scripts/compare_strategies.py"

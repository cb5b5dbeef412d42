rule build_benchmark:
    output:
        table=f"{BENCHMARK}/items.parquet",
        images=directory(f"{BENCHMARK}/images"),
    log:
        f"{RUN}/logs/benchmark.log",
    benchmark:
        f"{RUN}/benchmarks/benchmark.tsv"
    conda:
        "../envs/data.yaml"
    params:
        benchmark=config["benchmark"],
        qtypes=config["qtypes"],
        seed=config["seed"],
    script:
        "../scripts/benchmark.py"

rule build_benchmark:
    input:
        sources=source_paths("benchmark"),
        manifest=source_manifest("benchmark"),
    output:
        table=f"{BENCHMARK}/items.parquet",
        images=directory(f"{BENCHMARK}/images"),
    log:
        f"{SHARED}/logs/benchmark.log",
    benchmark:
        f"{SHARED}/benchmarks/benchmark.tsv"
    conda:
        "../envs/data.yaml"
    params:
        **section_params("benchmark", config["benchmark"]),
        qtypes=config["qtypes"],
        seed=config["seed"],
    script:
        "../scripts/benchmark.py"

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


# A benchmark every model is also evaluated on and reported, never sampled from (report_benchmarks).
use rule build_benchmark as build_report_benchmark with:
    input:
        sources=report_benchmark_sources,
        manifest=report_benchmark_manifest,
    output:
        table=f"{SHARED}/report_benchmarks/{{bench}}/items.parquet",
        images=directory(f"{SHARED}/report_benchmarks/{{bench}}/images"),
    log:
        f"{SHARED}/logs/benchmark_{{bench}}.log",
    benchmark:
        f"{SHARED}/benchmarks/benchmark_{{bench}}.tsv"
    params:
        # One param: report benchmarks differ in their keys (the main one has a param per knob).
        section=lambda wildcards: REPORT_BENCHMARKS[wildcards.bench],
        qtypes=config["qtypes"],
        seed=config["seed"],

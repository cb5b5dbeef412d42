rule build_benchmark:
    input:
        sources=source_paths("benchmark"),
        manifest=source_manifest("benchmark"),
    output:
        table=f"{LAYOUT.benchmark}/items.parquet",
        images=directory(f"{LAYOUT.benchmark}/images"),
    log:
        LAYOUT.log("benchmark", at="shared"),
    benchmark:
        LAYOUT.timing("benchmark", at="shared")
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
        table=f"{LAYOUT.report_benchmark('{{bench}}')}/items.parquet",
        images=directory(f"{LAYOUT.report_benchmark('{{bench}}')}/images"),
    log:
        LAYOUT.log("benchmark_{bench}", at="shared"),
    benchmark:
        LAYOUT.timing("benchmark_{bench}", at="shared")
    params:
        # One param: report benchmarks differ in their keys (the main one has a param per knob).
        section=lambda wildcards: REPORT_BENCHMARKS[wildcards.bench],
        qtypes=config["qtypes"],
        seed=config["seed"],

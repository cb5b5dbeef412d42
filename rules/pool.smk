rule build_pool:
    input:
        benchmark=rules.build_benchmark.output.table,
    output:
        annotations=f"{POOL}/annotations.jsonl",
        images=directory(f"{POOL}/images"),
    log:
        f"{RUN}/logs/pool.log",
    conda:
        "../envs/data.yaml"
    params:
        pool=config["pool"],
        qtypes=config["qtypes"],
        image_size=config["benchmark"]["image_size"],
        seed=config["seed"],
    script:
        "../scripts/pool.py"

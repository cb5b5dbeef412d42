rule build_pool:
    input:
        benchmark=rules.build_benchmark.output.table,
        sources=source_paths("pool"),
        manifest=source_manifest("pool"),
    output:
        annotations=f"{LAYOUT.pool}/annotations.jsonl",
        images=directory(f"{LAYOUT.pool}/images"),
    log:
        LAYOUT.log("pool", at="shared"),
    benchmark:
        LAYOUT.timing("pool", at="shared")
    conda:
        "../envs/data.yaml"
    params:
        **section_params("pool", config["pool"]),
        qtypes=config["qtypes"],
        image_size=config["benchmark"]["image_size"],
        world=config["benchmark"]["world"],
        seed=config["seed"],
    script:
        "../scripts/pool.py"


rule embed_pool:
    input:
        pool=rules.build_pool.output.annotations,
        pool_images=rules.build_pool.output.images,
    output:
        embeddings=f"{LAYOUT.pool}/embeddings.npz",
    log:
        LAYOUT.log("embed_pool", at="shared"),
    benchmark:
        LAYOUT.timing("embed_pool", at="shared")
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    params:
        **section_params("retrieval", config["retrieval"]),
    script:
        "../scripts/embed_pool.py"

rule build_pool:
    input:
        benchmark=rules.build_benchmark.output.table,
        sources=source_paths("pool"),
        manifest=source_manifest("pool"),
    output:
        annotations=f"{POOL}/annotations.jsonl",
        images=directory(f"{POOL}/images"),
    log:
        f"{SHARED}/logs/pool.log",
    benchmark:
        f"{SHARED}/benchmarks/pool.tsv"
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
        embeddings=f"{POOL}/embeddings.npz",
    log:
        f"{SHARED}/logs/embed_pool.log",
    benchmark:
        f"{SHARED}/benchmarks/embed_pool.tsv"
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    params:
        **section_params("retrieval", config["retrieval"]),
    script:
        "../scripts/embed_pool.py"

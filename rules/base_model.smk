# Iteration 0: the seed instruction set and the tiny student trained on it. A real base model
# (student.base = a folder) skips base_model; common.model_dir points at the folder instead.


rule seed_set:
    input:
        pool=rules.build_pool.output.annotations,
    output:
        queries=f"{BASE}/iter_0/data/queries.jsonl",
        accepted=f"{BASE}/iter_0/data/accepted.jsonl",
        rejected=f"{BASE}/iter_0/data/rejected.jsonl",
        stats=f"{BASE}/iter_0/data/generation.json",
    log:
        f"{BASE}/logs/seed_set.log",
    benchmark:
        f"{BASE}/benchmarks/seed_set.tsv"
    conda:
        "../envs/generation.yaml"
    params:
        **section_params("teacher", result_knobs(config["teacher"])),
        per_type=config["student"]["tiny"]["seed_set"]["per_type"],
        qtypes=config["qtypes"],
        cache=SEED_SET_CACHE,
        seed=run_seed,
    script:
        "../scripts/seed_set.py"


rule base_model:
    input:
        pool=rules.build_pool.output.annotations,
        pool_images=rules.build_pool.output.images,
        seed_set=rules.seed_set.output.accepted,
    output:
        model=directory(f"{BASE}/iter_0/model"),
    log:
        f"{BASE}/logs/base_model.log",
    benchmark:
        f"{BASE}/benchmarks/base_model.tsv"
    # A killed or preempted job resumes from its checkpoint (iter_0/model.ckpt) on retry.
    retries: 2
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    params:
        **section_params("tiny", config["student"]["tiny"]),
        image_size=config["benchmark"]["image_size"],
        views=config["train"]["views"],
        seed=run_seed,
    script:
        "../scripts/base_model.py"

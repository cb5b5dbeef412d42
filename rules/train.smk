rule train:
    input:
        model=previous_model,
        accepted=rules.validate.output.accepted,
        replay=replay_sources,
        pool_images=rules.build_pool.output.images,
        base_records=BASE_DATA_RECORDS,
    output:
        model=directory(f"{ARM}/iter_{{i}}/model"),
    log:
        job=f"{ARM}/logs/train_{{i}}.log",
        # With train.processes or train.nodes > 1: the output of the training processes it starts.
        workers=f"{ARM}/logs/train_{{i}}.workers.log",
    benchmark:
        f"{ARM}/benchmarks/train_{{i}}.tsv"
    wildcard_constraints:
        i=r"[1-9]\d*",
    # A killed or preempted job resumes from its checkpoint (iter_<i>/model.ckpt) on retry.
    retries: 2
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    params:
        **section_params("train", config["train"], train_knobs),
        dtype=config["student"]["dtype"],
        family=config["student"]["family"],
        seed=run_seed,
        base_images=BASE_DATA.get("image_dir"),
    script:
        "../scripts/train.py"


if FROM_START:

    # Iteration 0 of the from_start regime: the start model trained on the base data alone (LLaVA-1.5
    # itself, for the paper's recipe), the baseline every later iteration's model is compared with.
    use rule train as train_start with:
        input:
            model=start_model,
            pool_images=rules.build_pool.output.images,
            base_records=BASE_DATA_RECORDS,
        output:
            model=directory(f"{BASE}/iter_0/model"),
        log:
            job=f"{BASE}/logs/train_0.log",
            workers=f"{BASE}/logs/train_0.workers.log",
        benchmark:
            f"{BASE}/benchmarks/train_0.tsv"
        params:
            **section_params("train", knobs(config, "train", 0)),
            dtype=config["student"]["dtype"],
            family=config["student"]["family"],
            seed=run_seed,
            base_images=BASE_DATA.get("image_dir"),

rule train:
    input:
        model=previous_model,
        accepted=rules.validate.output.accepted,
        replay=replay_sources,
        pool_images=rules.build_pool.output.images,
        base_records=BASE_DATA_RECORDS,
    output:
        model=directory(LAYOUT.model("{i}")),
    log:
        job=LAYOUT.log("train_{i}"),
        # With train.processes or train.nodes > 1: the output of the training processes it starts.
        workers=LAYOUT.log("train_{i}.workers"),
    benchmark:
        LAYOUT.timing("train_{i}")
    wildcard_constraints:
        i=r"[1-9]\d*",
    # A killed or preempted job resumes from its checkpoint (iter_<i>/model.ckpt) on retry.
    retries: 2
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    params:
        **section_params(
            "train", without_runtime(config["train"], "train"), train_knobs
        ),
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
            model=directory(LAYOUT.model(0)),
        log:
            job=LAYOUT.log("train_0", at="base"),
            workers=LAYOUT.log("train_0.workers", at="base"),
        benchmark:
            LAYOUT.timing("train_0", at="base")
        params:
            **section_params(
                "train", without_runtime(knobs(config, "train", 0), "train")
            ),
            dtype=config["student"]["dtype"],
            family=config["student"]["family"],
            seed=run_seed,
            base_images=BASE_DATA.get("image_dir"),

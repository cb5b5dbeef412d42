rule train:
    input:
        model=previous_model,
        accepted=rules.validate.output.accepted,
        replay=replay_sources,
        pool_images=rules.build_pool.output.images,
    output:
        model=directory(f"{ARM}/iter_{{i}}/model"),
    log:
        job=f"{ARM}/logs/train_{{i}}.log",
        # With train.processes > 1: the output of the training processes (torchrun) this job starts.
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
        seed=run_seed,
    script:
        "../scripts/train.py"

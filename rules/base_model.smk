# The start model: the tiny student trained on a seed instruction set, or LLaVA's stage-1 parts
# assembled into one model (student.base: assembled). A real model folder (student.base = a path)
# is used as is; common.start_model points at it instead.


rule seed_set:
    input:
        pool=rules.build_pool.output.annotations,
    output:
        queries=LAYOUT.queries(0),
        accepted=LAYOUT.accepted(0),
        rejected=LAYOUT.rejected(0),
        stats=LAYOUT.generation(0),
    log:
        LAYOUT.log("seed_set", at="base"),
    benchmark:
        LAYOUT.timing("seed_set", at="base")
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
        model=directory(TINY_MODEL),
    log:
        LAYOUT.log("base_model", at="base"),
    benchmark:
        LAYOUT.timing("base_model", at="base")
    # A killed or preempted job resumes from its checkpoint (iter_0/model.ckpt) on retry.
    retries: 2
    conda:
        "../envs/torch.yaml"
    threads: TORCH_CPUS
    params:
        **section_params("tiny", config["student"]["tiny"]),
        image_size=config["benchmark"]["image_size"],
        views=config["train"]["views"],
        family=config["student"]["family"],
        seed=run_seed,
    script:
        "../scripts/base_model.py"


if ASSEMBLED:

    rule assemble_model:
        input:
            language_model=config["student"]["assemble"]["language_model"],
            vision_tower=config["student"]["assemble"]["vision_tower"],
            projector=config["student"]["assemble"]["projector"],
        output:
            model=directory(ASSEMBLED_MODEL),
        log:
            LAYOUT.log("assemble_model", at="shared"),
        benchmark:
            LAYOUT.timing("assemble_model", at="shared")
        conda:
            "../envs/torch.yaml"
        threads: TORCH_CPUS
        params:
            vision_feature_layer=config["student"]["assemble"]["vision_feature_layer"],
            dtype=config["student"]["dtype"],
        script:
            "../scripts/assemble_model.py"

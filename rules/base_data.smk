# LLaVA's instruction data (train.base_data, the paper's llava_v1_5_mix665k.json), checked once and
# written as records that the from_start regime's training jobs read row by row.


if FROM_START:

    rule prepare_base_data:
        input:
            conversations=BASE_DATA["path"],
        output:
            records=f"{SHARED}/base_data/records.jsonl",
            stats=f"{SHARED}/base_data/stats.json",
        log:
            f"{SHARED}/logs/prepare_base_data.log",
        benchmark:
            f"{SHARED}/benchmarks/prepare_base_data.tsv"
        conda:
            "../envs/data.yaml"
        params:
            image_dir=BASE_DATA["image_dir"],
            missing_images=BASE_DATA["missing_images"],
        script:
            "../scripts/prepare_base_data.py"

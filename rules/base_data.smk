# LLaVA's instruction data (train.base_data, the paper's llava_v1_5_mix665k.json), checked once and
# written as records that the from_start regime's training jobs read row by row.


if FROM_START:

    rule prepare_base_data:
        input:
            conversations=BASE_DATA["path"],
        output:
            records=f"{LAYOUT.base_data}/records.jsonl",
            stats=f"{LAYOUT.base_data}/stats.json",
        log:
            LAYOUT.log("prepare_base_data", at="shared"),
        benchmark:
            LAYOUT.timing("prepare_base_data", at="shared")
        conda:
            "../envs/data.yaml"
        params:
            image_dir=BASE_DATA["image_dir"],
            missing_images=BASE_DATA["missing_images"],
        script:
            "../scripts/prepare_base_data.py"

# dataengine: the MLLM-DataEngine loop as a Snakemake workflow.
# evaluate -> adaptive bad-case sampling -> teacher -> validate -> fine-tune -> evaluate ...
# Paths and input functions live in rules/common.smk; each stage has its own rule file.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/benchmark.smk"
include: "rules/pool.smk"
include: "rules/base_model.smk"
include: "rules/evaluate.smk"
include: "rules/sample.smk"
include: "rules/generate.smk"
include: "rules/validate.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/experiment.smk"


rule all:
    input:
        (rules.compare_strategies.output if EXPERIMENT else rules.summarize.output),

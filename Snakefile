# dataengine: the MLLM-DataEngine loop as a Snakemake workflow.
# evaluate -> plan (adaptive bad-case sampling) -> generate -> validate -> train -> evaluate ...
# Paths and input functions live in rules/common.smk; each stage has its own rule file.
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/benchmark.smk"
include: "rules/pool.smk"
include: "rules/base_model.smk"
include: "rules/base_data.smk"
include: "rules/evaluate.smk"
include: "rules/plan.smk"
include: "rules/generate.smk"
include: "rules/validate.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/experiment.smk"


rule all:
    input:
        (rules.compare_strategies.output if EXPERIMENT else rules.report.output),

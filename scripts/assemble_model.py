"""Snakemake entry point: the v2 start model from LLaVA's three parts (student.assemble)."""

from dataengine.core.joblog import job_logging
from dataengine.model.assemble import assemble

with job_logging(snakemake.log[0]):
    assemble(
        language_model=snakemake.input.language_model,
        vision_tower=snakemake.input.vision_tower,
        projector=snakemake.input.projector,
        out_dir=snakemake.output.model,
        vision_feature_layer=snakemake.params.vision_feature_layer,
        dtype=snakemake.params.dtype,
    )

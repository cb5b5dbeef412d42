"""dataengine: a closed-loop data engine for multimodal LLMs (after MLLM-DataEngine, arXiv 2308.13566).

Each stage is a plain function from files to files, importable without Snakemake; the Snakemake
rules under `rules/` and the thin entry points under `scripts/` only wire them together.
"""

__version__ = "0.1.0"

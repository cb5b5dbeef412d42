"""Tools beside the library: the demo, the local OpenAI-compatible server tests and benches run the
teacher against, and the single-node SLURM test cluster."""

"""Benchmarks and pools: the synthetic world, the real benchmark and pool formats, their sources on
disk, contamination checks, and samples in and out (the paper's and LLaVA's formats)."""

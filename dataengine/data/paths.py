"""Every path on disk a run's config reads, by config key: the benchmark's and the pool's sources,
the report benchmarks', the student (a model folder, or the parts `assembled` puts together), the
base data of the from_start regime and its images, and a CLIP folder. The Snakefile requires them
all before anything runs and `dataengine doctor` checks the same list."""

from __future__ import annotations

from dataengine.data import benchmarks, pools


def source_paths(config: dict) -> dict[str, list[tuple[str, str]]]:
    """The benchmark's, the pool's and each report benchmark's sources, by stage: (config key, path)."""
    return {
        "benchmark": benchmarks.source_paths(config["benchmark"]),
        "pool": pools.source_paths(config["pool"]),
        **{
            f"report_benchmark_{name}": benchmarks.source_paths(section, f"report_benchmarks.{name}")
            for name, section in config["report_benchmarks"].items()
        },
    }


def model_paths(config: dict) -> list[tuple[str, str]]:
    """The student's folder or assembled parts, the base data and its image folder, a CLIP folder."""
    student, base_data = config["student"], config["train"]["base_data"] or {}
    if student["base"] == "tiny":
        paths = []
    elif student["base"] == "assembled":
        paths = [
            (f"student.assemble.{part}", student["assemble"][part])
            for part in ("language_model", "vision_tower", "projector")
        ]
    else:
        paths = [("student.base", student["base"])]
    paths += [(f"train.base_data.{key}", base_data[key]) for key in ("path", "image_dir") if key in base_data]
    if config["retrieval"]["encoder"] == "clip" and config["retrieval"].get("model"):
        paths.append(("retrieval.model", config["retrieval"]["model"]))
    return paths


def config_paths(config: dict) -> list[tuple[str, str]]:
    """Every (config key, path) the run reads from disk."""
    return [pair for paths in source_paths(config).values() for pair in paths] + model_paths(config)

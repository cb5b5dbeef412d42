"""The paper's experiment config (config/experiments/llava15-7b-lora.yaml) plans the full loop
against fixture data in the real formats, for each real benchmark and pool kind."""

import pytest
import yaml

from dataengine.config import load_config
from tests.conftest import REPO, snakemake
from tests.real_fixtures import write_aokvqa, write_coco, write_mmbench, write_seedbench, write_visual_genome
from tests.test_workflow import planned_jobs

EXPERIMENT = REPO / "config" / "experiments" / "llava15-7b-lora.yaml"


def test_the_experiment_keeps_the_papers_recipe():
    config = load_config(EXPERIMENT)
    assert config["train"]["lora"] == {"r": 128, "alpha": 256, "dropout": 0.05}
    assert (config["train"]["method"], config["train"]["lr"], config["train"]["epochs"]) == ("lora", 1e-4, 1)
    assert config["train"]["warmup_ratio"] == 0.03 and config["train"]["gradient_checkpointing"] == "auto"
    assert (config["student"]["scoring"], config["student"]["dtype"]) == ("letter", "bfloat16")
    assert config["retrieval"]["encoder"] == "clip"


@pytest.mark.parametrize(
    "write_benchmark, write_pool",
    [(write_seedbench, write_coco), (write_mmbench, write_visual_genome), (write_aokvqa, write_coco)],
)
def test_experiment_dry_runs_against_fixture_paths(workdir, tmp_path, write_benchmark, write_pool):
    data = tmp_path / "data"
    benchmark = write_benchmark(data / "benchmark")
    pool = write_pool(data / "pool")
    for model in ("llava-1.5-7b-hf", "clip"):
        (data / model).mkdir()
        (data / model / "config.json").write_text("{}")
    overlay = tmp_path / "fixtures.yaml"
    overlay.write_text(yaml.safe_dump({
        "benchmark": benchmark, "pool": pool,
        "student": {"base": str(data / "llava-1.5-7b-hf")}, "retrieval": {"model": str(data / "clip")},
    }))  # fmt: skip
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[EXPERIMENT, overlay]))
    k = load_config(EXPERIMENT)["iterations"]
    assert jobs == {
        "build_benchmark": 1, "build_pool": 1, "embed_pool": 1, "evaluate_base": 1, "evaluate": k, "plan": k,
        "generate": k, "validate": k, "train": k, "report": 1, "all": 1,
    }  # fmt: skip

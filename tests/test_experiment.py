"""The paper's experiment config (config/experiments/llava15-7b-lora.yaml) plans the full loop
against fixture data in the real formats, for each real benchmark and pool kind."""

import pytest
import yaml

from dataengine.core.config import load_config
from tests.conftest import REPO, snakemake
from tests.real_fixtures import write_aokvqa, write_coco, write_mmbench, write_seedbench, write_visual_genome
from tests.test_workflow import planned_jobs

EXPERIMENT = REPO / "config" / "experiments" / "llava15-7b-lora.yaml"
LM = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # LLaVA-1.5's LoRA: every LM linear


def test_the_experiment_keeps_the_papers_recipe():
    config = load_config(EXPERIMENT)
    assert config["train"]["lora"] == {
        "r": 128,
        "alpha": 256,
        "dropout": 0.05,
        "projector": "full",
        "target_modules": LM,
    }
    assert config["train"]["vision_tower"] == "frozen"
    assert config["train"]["projector_lr"] == 2e-5
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
    overlay.write_text(
        yaml.safe_dump(
            {
                "benchmark": benchmark,
                "pool": pool,
                "student": {"base": str(data / "llava-1.5-7b-hf")},
                "retrieval": {"model": str(data / "clip")},
            }
        )
    )
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[EXPERIMENT, overlay]))
    k = load_config(EXPERIMENT)["iterations"]
    assert jobs == {
        "build_benchmark": 1,
        "build_pool": 1,
        "embed_pool": 1,
        "evaluate_base": 1,
        "evaluate": k,
        "plan": k,
        "generate": k,
        "validate": k,
        "train": k,
        "report": 1,
        "all": 1,
    }


V2 = REPO / "config" / "experiments" / "llava15-7b-v2.yaml"


def test_the_v2_config_is_the_papers_training_regime():
    train = load_config(V2)["train"]
    assert (train["regime"], train["method"], train["epochs"], train["max_length"]) == ("from_start", "lora", 1, 2048)
    assert train["lora"] == {"r": 128, "alpha": 256, "dropout": 0.05, "projector": "full", "target_modules": LM}
    assert (train["lr"], train["projector_lr"], train["warmup_ratio"]) == (1e-4, 2e-5, 0.03)
    assert train["batch_size"] == 16 * train["processes"] == 128


def test_v2_dry_runs_the_assembly_the_mixed_training_and_both_evaluations(workdir, tmp_path):
    data = tmp_path / "data"
    llava = data / "llava"
    (llava / "coco").mkdir(parents=True)
    (llava / "llava_v1_5_mix665k.json").write_text("[]")
    for part in ("vicuna-7b-v1.5", "clip-vit-large-patch14-336", "clip"):
        (data / part).mkdir()
    (data / "mm_projector.bin").write_bytes(b"")
    mmbench = write_mmbench(data / "mmbench") | {"dev_share": 0}
    overlay = tmp_path / "fixtures.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "benchmark": write_seedbench(data / "seed"),
                "pool": write_coco(data / "coco"),
                "report_benchmarks": {"mmbench_dev": mmbench},
                "retrieval": {"model": str(data / "clip")},
                "student": {
                    "assemble": {
                        "language_model": str(data / "vicuna-7b-v1.5"),
                        "projector": str(data / "mm_projector.bin"),
                        "vision_tower": str(data / "clip-vit-large-patch14-336"),
                    }
                },
                "train": {"base_data": {"path": str(llava / "llava_v1_5_mix665k.json"), "image_dir": str(llava)}},
            }
        )
    )
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[V2, overlay]))
    k = load_config(V2)["iterations"]
    assert jobs == {
        "build_benchmark": 1,
        "build_pool": 1,
        "embed_pool": 1,
        "plan": k,
        "generate": k,
        "validate": k,
        "assemble_model": 1,
        "prepare_base_data": 1,
        "train_start": 1,
        "train": k,  # the start model, mixed data
        "evaluate_base": 1,
        "evaluate": k,  # SEED-Bench
        "build_report_benchmark": 1,
        "evaluate_report_base": 1,
        "evaluate_report": k,  # MMBench dev
        "report": 1,
        "all": 1,
    }

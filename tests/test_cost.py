"""`dataengine plan-cost`: figures a person can check by hand, from small configs."""

import json

import polars as pl
import pytest
import yaml

from dataengine.core.config import deep_merge, validate_config
from dataengine.runs.cost import DEMO_COMPLETION_TOKENS, DEMO_PROMPT_TOKENS, MIX665K_ENTRIES, plan_cost, render
from tests.conftest import REPO

RATES = {
    "device": "NVIDIA H200",
    "shape": "7b",
    "letter_items_per_s": 30.0,
    "generate_items_per_s": 10.0,
    "lora_samples_per_s": 2.0,
    "gradient_checkpointing": False,
    "tokens_per_sample": 600,
}


def incremental(**changes) -> dict:
    """Two iterations of a LoRA student: 3,600 then 1,800 samples (two views, replay 900, epochs 1
    then 2, two processes), 10,800 synthetic items per evaluation, an openai teacher."""
    config = {
        "run": "hand",
        "iterations": 2,
        "qtypes": [1, 2],
        "benchmark": {"dev_per_type": 1500, "test_per_type": 3900},
        "student": {"base": "models/llava", "family": "llava", "scoring": "letter"},
        "sampling": {"budget": 3600},
        "teacher": {"kind": "openai", "max_tokens": 400, "prices": {"input_per_1m": 2.0, "output_per_1m": 10.0}},
        "train": {
            "method": "lora",
            "views": ["free", "lettered"],
            "replay": 900,
            "epochs": 1,
            "batch_size": 16,
            "processes": 2,
        },
        "per_iteration": {2: {"sampling": {"budget": 1800}, "train": {"epochs": 2}}},
    }
    return validate_config(deep_merge(config, changes))


@pytest.fixture
def gpu_file(tmp_path):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(RATES))
    return path


def test_incremental_run_by_hand(tmp_path, gpu_file):
    cost = plan_cost(incremental(), gpu_file=gpu_file, results=tmp_path)
    zero, first, second = cost["iterations"]

    assert zero["samples"] == 0 and zero["train"] is None  # a given base model: nothing to generate or train
    assert zero["evaluate"] == {"items": 10_800, "gpu_hours": 0.1}  # (1,500 + 3,900) x 2 types at 30 items/s

    assert first["teacher"]["requests"] == 3600
    assert first["teacher"]["input_tokens"] == round(3600 * DEMO_PROMPT_TOKENS)
    assert first["teacher"]["usd"] == pytest.approx(
        3600 * (DEMO_PROMPT_TOKENS * 2 + DEMO_COMPLETION_TOKENS * 10) / 1e6, abs=1e-4
    )
    assert first["teacher"]["usd_max"] == pytest.approx(3600 * (DEMO_PROMPT_TOKENS * 2 + 400 * 10) / 1e6, abs=1e-4)
    # nothing earlier to replay: 3,600 x 2 views, one epoch of 450 batches of 16, 2 samples/s per GPU
    assert {k: first["train"][k] for k in ("records", "sequences", "tokens", "gpu_hours", "wall_hours")} == {
        "records": 7200,
        "sequences": 7200,
        "tokens": 7200 * 600,
        "gpu_hours": 1.0,
        "wall_hours": 0.5,
    }

    # 1,800 new + 900 replayed from iteration 1, 2 views, two epochs: 675 batches of 16
    assert second["teacher"]["requests"] == 1800
    assert {k: second["train"][k] for k in ("records", "sequences", "gpu_hours", "wall_hours")} == {
        "records": 5400,
        "sequences": 10_800,
        "gpu_hours": 1.5,
        "wall_hours": 0.75,
    }

    total = cost["total"]
    assert (total["samples"], total["requests"], total["train_sequences"]) == (5400, 5400, 18_000)
    assert (total["train_gpu_hours"], total["train_wall_hours"]) == (2.5, 1.25)
    assert (total["eval_items"], total["eval_gpu_hours"]) == (32_400, 0.3)
    assert str(gpu_file) in cost["sources"]["gpu_rates"] and cost["warnings"] == []


def test_rates_default_to_the_h200_notes_and_full_fine_tuning_has_none(tmp_path):
    cost = plan_cost(
        incremental(train={"gradient_checkpointing": True}), gpu_file=tmp_path / "none.json", results=tmp_path
    )
    assert "docs/gpu.md" in cost["sources"]["gpu_rates"]
    assert cost["iterations"][1]["train"]["gpu_hours"] == round(7200 / 7.3 / 3600, 3)  # with recomputation
    assert cost["iterations"][0]["evaluate"]["gpu_hours"] == round(10_800 / 50 / 3600, 3)

    full = plan_cost(incremental(train={"method": "full"}), gpu_file=tmp_path / "none.json", results=tmp_path)
    assert full["iterations"][1]["train"]["gpu_hours"] is None and full["total"]["train_gpu_hours"] is None
    assert "n/a" in render(full)


def test_another_familys_rates_come_from_its_own_measurement_or_are_unknown(tmp_path, gpu_file):
    qwen = incremental(student={"family": "qwen2_5_vl"})
    unknown = plan_cost(qwen, results=tmp_path)
    assert "none measured for the qwen2_5_vl family" in unknown["sources"]["gpu_rates"]
    assert unknown["total"]["train_gpu_hours"] is None and unknown["iterations"][0]["evaluate"]["gpu_hours"] is None
    assert unknown["total"]["usd"] > 0  # the teacher's cost does not depend on the student
    assert plan_cost(qwen, gpu_file=gpu_file, results=tmp_path)["total"]["train_gpu_hours"] is None  # LLaVA's rates
    measured = tmp_path / "bench" / "gpu-qwen2_5_vl.json"
    measured.parent.mkdir()
    measured.write_text(json.dumps({**RATES, "family": "qwen2_5_vl"}))
    assert plan_cost(qwen, results=tmp_path)["total"]["train_gpu_hours"] == 2.5  # results/bench/gpu-<family>.json


def test_from_start_trains_base_data_plus_every_engine_sample(tmp_path, gpu_file):
    base = tmp_path / "mix.json"
    base.write_text(
        json.dumps(
            [
                {
                    "id": "a",
                    "image": "coco/1.jpg",
                    "conversations": [{"from": "human", "value": "x" * 40}, {"from": "gpt", "value": "y" * 80}],
                },
                {"id": "b", "conversations": [{"from": "human", "value": "z" * 400}]},
            ]
        )
    )
    config = incremental(
        train={
            "regime": "from_start",
            "base_data": {"path": str(base), "image_dir": "."},
            "epochs": 1,
            "batch_size": 2,
            "processes": 1,
        },
        per_iteration={2: {"train": {"epochs": 1}}},
    )
    zero, first, second = plan_cost(config, gpu_file=gpu_file, results=tmp_path)["iterations"]
    # entry a: 40/4 + 4 + 80/4 + 4 + 576 image tokens = 614; entry b: 400/4 + 4 = 104; 359 on average
    assert (zero["train"]["records"], zero["train"]["tokens"]) == (2, 718)
    assert first["train"]["records"] == 2 + 3600 * 2
    assert first["train"]["tokens"] == 718 + 7200 * 600
    assert second["train"]["records"] == second["train"]["sequences"] == 2 + (3600 + 1800) * 2
    # a sequence costs by its tokens relative to the 600-token sample the rate was measured on
    assert second["train"]["gpu_hours"] == round((718 + 10_800 * 600) / 600 / 2.0 / 3600, 3)

    counted = plan_cost(config, base_samples=1000, gpu_file=gpu_file, results=tmp_path)
    assert counted["iterations"][0]["train"]["tokens"] == 1000 * 600  # not counted: an engine record's length
    assert counted["sources"]["base_data"].startswith("1,000 entries, --base-samples")
    missing = incremental(train={"regime": "from_start", "base_data": {"path": "nowhere.json", "image_dir": "."}})
    assert (
        plan_cost(missing, gpu_file=gpu_file, results=tmp_path)["iterations"][0]["train"]["records"] == MIX665K_ENTRIES
    )


def test_the_demo_config_reproduces_the_demo_ledger(tmp_path):
    """`make demo` paid 0.6853 USD for 5,580 replies: the seed set's 2,580 and three rounds of 1,000."""
    config = {}
    for name in ("config.yaml", "demo.yaml"):
        config = deep_merge(config, yaml.safe_load((REPO / "config" / name).read_text()))
    cost = plan_cost(validate_config(config), gpu_file=tmp_path / "none.json", results=tmp_path)
    assert [row["teacher"]["requests"] for row in cost["iterations"]] == [2580, 1000, 1000, 1000]
    assert cost["total"]["usd"] == pytest.approx(0.6853, abs=1e-4)
    # replay draws on the seed set from iteration 1: (1,000 + 500) x the free view; 300 steps of 32
    assert cost["iterations"][1]["train"]["records"] == 1500 and cost["iterations"][1]["train"]["sequences"] == 9600
    assert cost["total"]["train_gpu_hours"] is None  # the tiny student trains on a CPU; the rates are a 7B's


def test_a_budget_the_plan_would_exceed_is_named(tmp_path, gpu_file):
    cost = plan_cost(incremental(teacher={"budget_usd": 1.0}), gpu_file=gpu_file, results=tmp_path)
    assert len(cost["warnings"]) == 2 and "iteration 1: teacher.budget_usd 1.0" in cost["warnings"][0]
    assert "warning: iteration 2" in render(cost)


def test_report_benchmarks_add_their_items_to_each_evaluation(tmp_path, gpu_file):
    reported = {
        "small": {"dev_per_type": 100, "test_per_type": 200},
        "mmbench_dev": {"kind": "mmbench", "path": "x.tsv", "qtype_map": {"image_scene": 1}},
    }
    cost = plan_cost(incremental(report_benchmarks=reported), gpu_file=gpu_file, results=tmp_path)
    assert cost["iterations"][0]["evaluate"]["items"] == 10_800 + 600  # (100 + 200) x 2 types
    assert "mmbench_dev: " in cost["sources"]["eval_items"] and "not counted" in cost["sources"]["eval_items"]
    built = tmp_path / "hand" / "report_benchmarks" / "mmbench_dev" / "items.parquet"
    built.parent.mkdir(parents=True)
    pl.DataFrame({"id": range(40)}).write_parquet(built)
    assert (
        plan_cost(incremental(report_benchmarks=reported), gpu_file=gpu_file, results=tmp_path)["iterations"][0][
            "evaluate"
        ]["items"]
        == 11_440
    )


def test_wall_hours_share_the_gpu_hours_over_every_node(tmp_path, gpu_file):
    two_nodes = plan_cost(incremental(train={"nodes": 2}), gpu_file=gpu_file, results=tmp_path)["iterations"][1][
        "train"
    ]
    assert (two_nodes["gpu_hours"], two_nodes["wall_hours"], two_nodes["processes"]) == (1.0, 0.25, 4)


def test_a_runs_own_ledger_gives_the_tokens_a_reply(tmp_path, gpu_file):
    ledger = tmp_path / "hand" / "cache" / "teacher.ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    replies = [
        {"event": "reply", "prompt_tokens": 1000, "completion_tokens": 100},
        {"event": "reply", "prompt_tokens": 3000, "completion_tokens": 300},
        {"event": "cache_restarted"},
    ]
    ledger.write_text("".join(json.dumps(entry) + "\n" for entry in replies))
    cost = plan_cost(incremental(), gpu_file=gpu_file, results=tmp_path)
    assert cost["iterations"][1]["teacher"]["input_tokens"] == 3600 * 2000
    assert cost["iterations"][1]["teacher"]["output_tokens"] == 3600 * 200
    assert (
        f"your ledger {ledger}: 2000.0 prompt + 200.0 completion tokens a reply over 2"
        == cost["sources"]["teacher_tokens"]
    )

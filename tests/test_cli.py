"""The `dataengine` command as a user meets it: every mistake is one clear line and a non-zero exit,
never a traceback; `status` and `doctor` tell from files what a run has done and what it needs."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml

from dataengine.core.config import validate_config
from dataengine.core.jsonl import write_json, write_jsonl
from dataengine.core.layout import RunLayout
from dataengine.core.qtypes import SEED_TYPES, run_types
from dataengine.data.pool import build_synthetic_pool
from dataengine.runs.dataset import card
from dataengine.runs.status import status
from tests.conftest import CONFIGS, REPO
from tests.tiny import colour_sample

DATAENGINE = str(Path(sys.executable).parent / "dataengine")


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | (env or {})
    return subprocess.run([DATAENGINE, *args], capture_output=True, text=True, cwd=cwd, env=environment, timeout=300)


def one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


def test_no_command_shows_the_commands_and_fails():
    result = run()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "status" in result.stderr and "doctor" in result.stderr and "prompt" in result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("dataengine 0.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "export", "missing.jsonl", "--out", "x.json"], "No such file or directory: missing.jsonl"),
        (["prompt", "history", "--qtype", "Instance"], "'Instance' matches several types"),
        (["prompt", "history", "--qtype", "12"], "unknown question type 12"),
        (["teacher", "estimate", "--queries", "q.jsonl"], "teacher.kind is 'oracle', not 'openai'"),
        (["doctor", "--configfile", "nowhere.yaml"], "cannot read config nowhere.yaml"),
        (["status", "nothere"], "no run at results/nothere"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("{}")
    assert message in one_line_error(run(*args, cwd=tmp_path))


def test_plan_cost_prints_the_table_or_json_and_names_a_garbled_base_data(tmp_path):
    experiment = str(REPO / "config" / "experiments" / "llava15-7b-lora.yaml")
    for columns in ("40", "200"):  # a figure is never cut, however narrow the terminal
        table = run("plan-cost", "--configfile", experiment, cwd=tmp_path, env={"COLUMNS": columns})
        assert table.returncode == 0, table.stderr
        assert "│ total │  40,000 │   40,000 │  25.46M / 1.82M │" in table.stdout
        assert "1.53 (1.53) │     14,233 │       0.08 │" in table.stdout and "docs/gpu.md" in table.stdout
    cost = json.loads(run("plan-cost", "--configfile", experiment, "--json", cwd=tmp_path).stdout)
    assert cost["total"]["requests"] == 40_000 and cost["total"]["eval_items"] == 3 * 14_233

    (tmp_path / "mix.json").write_text("[{")
    overlay = tmp_path / "v2.yaml"
    overlay.write_text(
        yaml.safe_dump({"train": {"regime": "from_start", "base_data": {"path": "mix.json", "image_dir": "."}}})
    )
    assert "mix.json: cannot read train.base_data" in one_line_error(
        run("plan-cost", "--configfile", experiment, "--configfile", str(overlay), cwd=tmp_path)
    )


def test_a_type_is_taken_by_name(tmp_path):
    result = run("prompt", "history", "--qtype", "counting", "--sessions", str(tmp_path), cwd=REPO)
    assert f"no prompt session for type 5 in {tmp_path}/5/session.jsonl" in one_line_error(result)


def test_export_reads_accepted_samples_only_and_leaves_the_seed_set_out(tmp_path):
    run_dir = tmp_path / "results" / "demo"
    write_jsonl(
        run_dir / "iter_1" / "data" / "responses.jsonl", [{"query_id": "q1", "teacher": "oracle", "content": "{}"}]
    )
    sample = colour_sample("red", "images/red.png") | {
        "id": "s1",
        "iteration": 1,
        "teacher": "oracle",
        "prompt_version": "v",
        "query_id": "s1",
        "source_id": "p1",
    }
    write_jsonl(run_dir / "iter_1" / "data" / "accepted.jsonl", [sample])
    write_jsonl(run_dir / "iter_0" / "data" / "accepted.jsonl", [sample | {"iteration": 0}])

    wrong = run("data", "export", str(run_dir / "iter_1/data/responses.jsonl"), "--out", "x.json", cwd=tmp_path)
    assert "responses.jsonl:1: not an accepted sample" in one_line_error(wrong)
    exported = run(
        "data",
        "export",
        *map(str, sorted(run_dir.glob("iter_*/data/accepted.jsonl"))),
        "--out",
        "out.json",
        "--image-prefix",
        "results/demo/pool/",
        cwd=tmp_path,
    )
    assert exported.returncode == 0, exported.stderr
    assert "iter_0/data/accepted.jsonl: left out, the tiny student's seed set" in exported.stdout
    records = json.loads((tmp_path / "out.json").read_text())
    assert [r["image"] for r in records] == ["results/demo/pool/images/red.png"]


def test_a_dataset_export_names_a_missing_run_and_asks_for_files_in_the_json_formats(tmp_path):
    missing = run("data", "export", "--format", "hf", "nosuchrun", "--out", "hf", cwd=tmp_path)
    assert "no run at results/nosuchrun (results/nosuchrun/config.yaml is written when" in one_line_error(missing)
    nothing = run("data", "export", "--format", "sharegpt", "--out", "x.json", cwd=tmp_path)
    assert "--format sharegpt exports accepted.jsonl files: name them" in one_line_error(nothing)


def test_an_endpoint_that_does_not_answer_stops_the_round_and_judges_nothing(tmp_path):
    build_synthetic_pool(tmp_path / "pool", n_images=30, seed=0, qtypes=list(SEED_TYPES), exclude_sha256=set())
    overlay = tmp_path / "down.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "teacher": {
                    "base_url": "http://127.0.0.1:9/v1",
                    "max_retries": 0,
                    "timeout_s": 2,
                    "prompts": str(REPO / "config/prompts"),
                },
                "prompt_optimization": {"sessions": str(tmp_path / "sessions"), "versions": str(tmp_path / "versions")},
            }
        )
    )
    result = run(
        "prompt",
        "optimize",
        "--configfile",
        str(CONFIGS / "small.yaml"),
        "--configfile",
        str(CONFIGS / "openai.yaml"),
        "--configfile",
        str(overlay),
        "--qtype",
        "5",
        "--samples",
        "2",
        "--reviewer",
        "auto",
        "--pool",
        str(tmp_path / "pool" / "annotations.jsonl"),
        cwd=tmp_path,
    )
    message = one_line_error(result)
    assert "did not answer 2 of 2 requests" in message and "connection" in message
    events = [json.loads(line)["event"] for line in (tmp_path / "sessions/5/session.jsonl").read_text().splitlines()]
    assert events == ["start"]  # no samples, no verdicts, no version recommended
    assert "set teacher.prompts" not in result.stdout


def test_doctor_lists_everything_missing_at_once(tmp_path):
    overlay = tmp_path / "real.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "benchmark": {
                    "kind": "seedbench",
                    "path": "data/SEED-Bench.json",
                    "image_dir": "data/SEED-Bench-image",
                },
                "student": {"base": "models/llava-1.5-7b-hf"},
                "teacher": {"kind": "openai", "api_key_env": "DATAENGINE_DOCTOR_KEY"},
            }
        )
    )
    result = run("doctor", "--configfile", str(REPO / "config/config.yaml"), "--configfile", str(overlay), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for line in (
        "error   benchmark.path: data/SEED-Bench.json does not exist",
        "error   benchmark.image_dir: data/SEED-Bench-image does not exist",
        "error   student.base: models/llava-1.5-7b-hf does not exist",
        "error   teacher: $DATAENGINE_DOCTOR_KEY (teacher.api_key_env) is not set",
        "disk: ",
    ):
        assert line in result.stdout
    # a CPU build of torch cannot train a real model; a CUDA build on a machine without a GPU may, elsewhere
    assert ("error   torch" if torch.version.cuda is None else "warning torch") in result.stdout
    fine = run("doctor", "--configfile", str(REPO / "config/config.yaml"), cwd=tmp_path)
    assert fine.returncode == 0 and "error" not in fine.stdout


def test_status_from_the_files_alone(tmp_path):
    config = validate_config({"run": "demo", "iterations": 2, "teacher": {"kind": "openai", "base_url": "http://x/v1"}})
    run_dir = tmp_path / "results" / "demo"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    for done in ("iter_0/data/accepted.jsonl", "iter_1/plan/queries.jsonl", "iter_1/data/responses.jsonl"):
        (run_dir / done).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / done).write_text("{}\n")
    (run_dir / "iter_0" / "model").mkdir()
    metrics = {
        "splits": {
            "test": {
                "overall": {"acc": 61.5, "n": 8},
                "per_type": {"1": {"acc": 100.0, "n": 4}, "5": {"acc": 23.0, "n": 4}},
            }
        }
    }
    write_json(run_dir / "iter_0" / "eval" / "metrics.json", metrics)
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "validate_1.log").write_text("validate: 40%|####      | 2/5 [00:01<00:02]\r")
    old = run_dir / "logs" / "train_1.log"
    old.write_text("a job killed long ago\n")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    ledger = run_dir / "cache" / "teacher.ledger.jsonl"
    ledger.parent.mkdir()
    ledger.write_text(
        "".join(
            json.dumps(
                {
                    "event": "reply",
                    "step": "results/demo/iter_1/data/generation.json",
                    "attempt": "a",
                    "key": f"k{n}",
                    "prompt_tokens": 100,
                    "completion_tokens": 50,
                    "cost_usd": 0.002,
                    "batch": None,
                }
            )
            + "\n"
            for n in range(3)
        )
    )

    result = run("status", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "  done     seed_set 0" in lines
        and "  done     base_model 0" in lines
        and "  done     evaluate_base 0" in lines
    )
    assert "  done     generate 1" in lines and "  to do    train 1" in lines and "  to do    report" in lines
    assert any(line.startswith("  running  validate 1  (validate: 40%") for line in lines)
    assert "teacher: 3 replies paid, 450 tokens, 0.0060 USD so far" in lines
    assert (
        "last evaluation (iteration 0, test split): 61.5 % overall; Scene Understanding 100.0, Instances Counting 23.0"
        in lines
    )


def test_status_and_the_dataset_card_name_the_recommended_model_once_the_report_has_one(tmp_path):
    config = validate_config({"run": "demo", "iterations": 2})
    run_dir = tmp_path / "results" / "demo"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    layout, types = RunLayout.of(run_dir), run_types(config)
    assert "recommended model" not in status(run_dir)
    assert "| recommended model | none yet (the run has no report) |" in card(config, types, layout, [1], Counter())
    best = {"iteration": 1, "model": "iter_1/model", "dev_overall": 58.0, "test_overall": 55.0, "rule": "..."}
    write_json(run_dir / "report" / "summary.json", {"run": "demo", "config_hash": "x", "iterations": [], "best": best})
    assert (
        status(run_dir)
        .splitlines()[-1]
        .startswith(
            "recommended model: iteration 1 (`iter_1/model`), dev 58.0 %, test 55.0 %: the highest overall accuracy on "
            "the dev split"
        )
    )
    assert "| recommended model | `iter_1/model` (iteration 1): dev 58.0 %, test 55.0 %, chosen on the dev split" in (
        card(config, types, layout, [1], Counter())
    )


def test_doctor_names_the_v2_configs_missing_parts_and_base_data(tmp_path):
    v2 = REPO / "config" / "experiments" / "llava15-7b-v2.yaml"
    result = run("doctor", "--configfile", str(v2), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    config = yaml.safe_load(v2.read_text())
    for key in ("language_model", "vision_tower", "projector"):
        assert f"error   student.assemble.{key}: {config['student']['assemble'][key]} does not exist" in result.stdout
    for key in ("path", "image_dir"):
        assert f"error   train.base_data.{key}: {config['train']['base_data'][key]} does not exist" in result.stdout
    assert "assembled does not exist" not in result.stdout
    assert "what the run writes is unknown until the student's files are on disk" in result.stdout


def test_the_command_leads_to_the_loop_and_each_refusal_says_what_to_do(tmp_path):
    assert "snakemake --cores N" in run("--help", cwd=tmp_path).stdout
    wrong = run("plan-cost", "--budget", "5", cwd=tmp_path)
    assert wrong.returncode == 2 and "usage: dataengine plan-cost" in wrong.stderr and "--budget 5" in wrong.stderr
    queries = tmp_path / "queries.jsonl"
    queries.write_text("")
    oracle = run("teacher", "estimate", "--queries", str(queries), cwd=tmp_path)
    assert oracle.returncode == 2 and "the oracle costs nothing" in oracle.stderr and "--configfile" in oracle.stderr

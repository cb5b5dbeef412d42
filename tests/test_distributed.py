"""Training in several processes inside one job (torchrun; gloo on CPU) takes the steps of one
process: the same losses and weights up to the order of floating-point sums, with a replica per process
(DDP) or the model sharded over them (FSDP2), on one node or on two (two torchruns meeting on loopback
as the nodes of a SLURM allocation do); one model folder written by rank 0, a worker's failure named
with its log, and a SIGTERM-ed run that resumes on rerun, from a sharded checkpoint too."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dataengine import pipeline
from dataengine.core.config import ConfigError, knobs, validate_config
from dataengine.model.student import load_student
from dataengine.train import distributed
from dataengine.train.checkpoint import CHECKPOINT_FILE
from tests.conftest import REPO

# Two views give sequences of different lengths, and 5 rows split 3 + 2 between the processes: their
# shares hold different numbers of target tokens, which the batch's mean loss must weigh right.
TRAIN = {
    "method": "full",
    "steps": 6,
    "batch_size": 5,
    "lr": 1e-2,
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "log_every": 2,
    "views": ["free", "lettered"],
    "replay": 0,
}
CHILD = "import json, sys; from dataengine import pipeline; pipeline.train(**json.loads(sys.argv[1]))"
LORA = {"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}


def train_args(root: Path, out: str, processes: int, **train) -> dict:
    return {
        "model_dir": str(root / "base"),
        "accepted": str(root / "accepted.jsonl"),
        "replay_sources": [],
        "pool_images": str(root / "images"),
        "out_dir": str(root / out),
        "iteration": 1,
        "cfg": TRAIN | train | {"processes": processes},
        "seed": 0,
        "threads": 2,
    }


def assert_same_training(root: Path, one: str, many: str, atol: float) -> None:
    """The logged losses agree to float32 rounding and every weight to `atol`. Attention key biases are
    left out: their exact gradient is zero (softmax ignores a shift shared by all keys), so Adam, which
    divides by the gradient's size, turns rounding noise into updates of up to ~lr."""
    logs = [json.loads((root / name / "train_log.json").read_text()) for name in (one, many)]
    assert [row["step"] for row in logs[1]["loss"]] == [row["step"] for row in logs[0]["loss"]]
    assert [row["loss"] for row in logs[1]["loss"]] == pytest.approx([row["loss"] for row in logs[0]["loss"]], rel=1e-5)
    weights = [load_student(root / name)[0].state_dict() for name in (one, many)]
    assert weights[1].keys() == weights[0].keys()
    for key, value in weights[0].items():
        if not key.endswith("k_proj.bias"):
            assert (weights[1][key] - value).abs().max() <= atol, key


def test_processes_is_a_train_knob_with_per_iteration_overrides():
    config = validate_config({"per_iteration": {2: {"train": {"processes": 4}}}})
    assert knobs(config, "train", 1)["processes"] == 1 and knobs(config, "train", 2)["processes"] == 4
    with pytest.raises(ConfigError, match=r"per_iteration\.2 -> train\.processes: 0 is less than the minimum"):
        validate_config({"per_iteration": {2: {"train": {"processes": 0}}}})


def test_two_processes_take_the_steps_of_one(colour_task):
    pipeline.train(**train_args(colour_task, "one", processes=1))
    pipeline.train(**train_args(colour_task, "two", processes=2))
    # Six steps of float32 Adam from the same start drift apart by ~1e-7 (measured); 1e-5 leaves room
    # for other BLAS builds yet is far below one step's update (~lr = 1e-2).
    assert_same_training(colour_task, "one", "two", atol=1e-5)
    assert json.loads((colour_task / "two" / "train_log.json").read_text())["processes"] == 2
    written = sorted(path.name for path in colour_task.iterdir() if "two" in path.name)
    assert written == ["two", "two.workers.log"]  # one model, no checkpoint or temporary folder left
    assert "rank 1" not in (colour_task / "two.workers.log").read_text()  # rank 0 alone reports


@pytest.mark.parametrize("method", [{}, LORA], ids=["full", "lora"])
def test_sharded_processes_take_the_steps_of_one(colour_task, method):
    pipeline.train(**train_args(colour_task, "one", processes=1, **method))
    pipeline.train(**train_args(colour_task, "sharded", processes=2, sharding="fsdp", **method))
    # As for DDP: ~1e-7 apart after six steps (measured: 1.2e-7 full, 8.4e-7 LoRA, merged).
    assert_same_training(colour_task, "one", "sharded", atol=1e-5)
    written = sorted(path.name for path in colour_task.iterdir() if "sharded" in path.name)
    assert written == ["sharded", "sharded.workers.log"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_launchers_on_loopback_take_the_steps_of_one(colour_task):
    """Two torchruns, one process each, stand for two nodes: they meet at the c10d rendezvous on
    127.0.0.1 as across_allocation makes the nodes of an allocation meet at the first one."""
    pipeline.train(**train_args(colour_task, "one", processes=1))
    args = train_args(colour_task, "two", processes=1, nodes=2, sharding="fsdp")
    command = distributed.torchrun(1, pipeline.train, args, nodes=2, endpoint=f"127.0.0.1:{free_port()}", run_id="t")
    logs = [colour_task / f"node{n}.log" for n in range(2)]
    nodes = [subprocess.Popen(command, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
    assert [node.wait(timeout=300) for node in nodes] == [0, 0], "\n".join(log.read_text()[-2000:] for log in logs)
    assert_same_training(colour_task, "one", "two", atol=1e-5)
    assert json.loads((colour_task / "two" / "train_log.json").read_text())["processes"] == 2


def test_several_nodes_meet_at_the_first_node_of_the_slurm_allocation(colour_task, tmp_path, monkeypatch):
    scontrol = tmp_path / "bin" / "scontrol"  # SLURM's own expansion of a node list, faked
    scontrol.parent.mkdir()
    scontrol.write_text('#!/bin/sh\n[ "$*" = "show hostnames gpu[07-08]" ] && printf "gpu07\\ngpu08\\n"\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{scontrol.parent}{os.pathsep}{os.environ['PATH']}")
    allocation = {"SLURM_JOB_ID": "4711", "SLURM_JOB_NODELIST": "gpu[07-08]"}
    command = distributed.across_allocation(2, 8, pipeline.train, {}, allocation)
    assert command[:6] == [
        "srun",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--overlap",
        "--kill-on-bad-exit=1",
    ]
    run = command[command.index("torch.distributed.run") + 1 :]
    assert run[:5] == [
        "--nnodes=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=gpu07:30211",
        "--rdzv-id=4711",
        "--nproc-per-node=8",
    ]
    command = distributed.across_allocation(
        2, 8, pipeline.train, {}, allocation | {distributed.RENDEZVOUS_PORT: "6000"}
    )
    assert "--rdzv-endpoint=gpu07:6000" in command
    with pytest.raises(ValueError, match=r"train\.nodes is 3 but SLURM job 4711 has 2 node\(s\) \(gpu\[07-08\]\)"):
        distributed.across_allocation(3, 8, pipeline.train, {}, allocation)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(ValueError, match=r"train\.nodes is 2: the train job must run in a SLURM allocation"):
        pipeline.train(**train_args(colour_task, "two", processes=1, nodes=2))


def test_a_failing_worker_is_named_with_its_log(colour_task):
    args = train_args(colour_task, "two", processes=2) | {"model_dir": str(colour_task / "no_model")}
    workers_log = colour_task / "two.workers.log"
    named = rf"failed \(torchrun exit status \d+\); see their log {re.escape(str(workers_log))}"
    with pytest.raises(RuntimeError, match=named):
        pipeline.train(**args)
    assert "config.json missing" in workers_log.read_text()  # the worker's own error is in the log
    assert not (colour_task / "two").exists()


def sigterm_after_a_checkpoint(args: dict, workers_log: Path, steps: int) -> re.Match:
    """Start the train job (pipeline.train in its own process), SIGTERM it once a checkpoint past step 4
    is written, and return the match of the step the processes stopped after."""
    job = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (workers_log.exists() and re.search(r"checkpoint: step (?:[4-9]|\d\d)/", workers_log.read_text())):
        assert job.poll() is None, job.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint in 120 s"
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)  # to the job alone: it passes the signal on
    assert job.wait(timeout=120) != 0
    stopped = re.search(rf"TrainingInterrupted: SIGTERM after step (\d+) of {steps}", workers_log.read_text())
    assert stopped and 4 <= int(stopped[1]) < steps, workers_log.read_text()[-3000:]
    return stopped


@pytest.mark.slow
def test_sigterm_stops_every_process_and_a_rerun_resumes(colour_task):
    lora = {"method": "lora", "steps": 40, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}  # checkpoints every 4
    args = train_args(colour_task, "two", processes=2, **lora)
    workers_log = colour_task / "two.workers.log"
    stopped = sigterm_after_a_checkpoint(args, workers_log, steps=40)
    assert not (colour_task / "two").exists() and (colour_task / "two.ckpt").is_dir()

    pipeline.train(**args)
    assert f"resuming from step {stopped[1]}" in workers_log.read_text()
    assert json.loads((colour_task / "two" / "train_log.json").read_text())["resumed_from_step"] == int(stopped[1])
    assert (colour_task / "two" / "adapter").is_dir() and not (colour_task / "two.ckpt").exists()
    pipeline.train(**train_args(colour_task, "one", processes=1, **lora))
    # Forty steps let rounding differences grow (to ~1e-5 for full fine-tuning, measured); a resume
    # that lost the optimizer state or the data position would be off by far more.
    assert_same_training(colour_task, "one", "two", atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", [{}, LORA], ids=["full", "lora"])
def test_sigterm_under_fsdp_resumes_from_the_shards(colour_task, method):
    args = train_args(colour_task, "two", processes=2, sharding="fsdp", steps=30, **method)  # checkpoints every 3
    workers_log = colour_task / "two.workers.log"
    stopped = sigterm_after_a_checkpoint(args, workers_log, steps=30)
    # The file names the folder of the step it stopped after; each process wrote its own shards there.
    checkpoint = colour_task / "two.ckpt"
    saved = torch.load(checkpoint / CHECKPOINT_FILE, weights_only=True)
    assert saved["shards"] == f"shards-{int(stopped[1]):07d}" and "weights" not in saved
    assert sorted(path.name for path in checkpoint.iterdir()) == sorted([CHECKPOINT_FILE, saved["shards"]])
    assert sorted(path.name for path in (checkpoint / saved["shards"]).glob("*.distcp")) == [
        "__0_0.distcp",
        "__1_0.distcp",
    ]

    pipeline.train(**args)
    assert f"resuming from step {stopped[1]}" in workers_log.read_text()
    assert json.loads((colour_task / "two" / "train_log.json").read_text())["resumed_from_step"] == int(stopped[1])
    assert not checkpoint.exists()
    # The same processes take the same steps in the same order: exactly an uninterrupted sharded run.
    pipeline.train(**train_args(colour_task, "uninterrupted", processes=2, sharding="fsdp", steps=30, **method))
    logs = [json.loads((colour_task / name / "train_log.json").read_text()) for name in ("two", "uninterrupted")]
    assert logs[0]["loss"] == logs[1]["loss"]
    weights = [load_student(colour_task / name)[0].state_dict() for name in ("two", "uninterrupted")]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])

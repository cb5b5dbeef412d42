"""Data-parallel training inside one pipeline job: `launch` starts N copies of a stage function per node
with torchrun (one process per GPU) and waits, on this machine or, with several nodes, on every node of
the job's SLURM allocation; in each copy the helpers below tell its rank, split a batch, average
gradients (a replica per process, or the weights sharded over them: dataengine.train.sharding) and gather
state. In a single process they do nothing, so one code path serves both. `on_sigterm` turns SIGTERM
into an orderly stop, for the launcher and the training loop."""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel

from dataengine.train import sharding

log = logging.getLogger("dataengine")

RENDEZVOUS_PORT = "DATAENGINE_RENDEZVOUS_PORT"  # where several nodes meet, on the first one
DEFAULT_PORTS = range(29500, 30500)  # without it, the port is drawn from these by the job id


def launch(processes: int, target: Callable, kwargs: dict[str, Any], log_path: Path | str, nodes: int = 1) -> None:
    """Run `target(**kwargs)` in `processes` processes on each of `nodes` nodes, joined in one process
    group, and wait for all. Their output goes to `log_path`, which the error names when one fails;
    SIGTERM is passed on to them, so they can save their state before they stop."""
    if torch.cuda.is_available() and torch.cuda.device_count() < processes:
        raise ValueError(f"{processes} processes need a GPU each; this job sees {torch.cuda.device_count()}")
    command = torchrun(processes, target, kwargs) if nodes == 1 else across_allocation(nodes, processes, target, kwargs)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("training in %d processes on %d node(s); their output: %s", processes * nodes, nodes, log_path)
    with open(log_path, "w") as output:
        workers = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        with on_sigterm(lambda: workers.send_signal(signal.SIGTERM)):
            status = workers.wait()
    if status != 0:
        raise RuntimeError(
            f"{target.__qualname__} in {processes * nodes} processes failed "
            f"({'torchrun' if nodes == 1 else 'srun'} exit status {status}); see their log {log_path}"
        )


def torchrun(
    processes: int, target: Callable, kwargs: dict[str, Any], nodes: int = 1, endpoint: str = "", run_id: str = ""
) -> list[str]:
    """The command of one node's torchrun: on one node a rendezvous of its own (standalone); on several,
    the c10d rendezvous at `endpoint` (host:port, served by the torchrun on that host) under `run_id`,
    where the nodes' processes get their ranks."""
    where = (
        ["--standalone"]
        if nodes == 1
        else [
            f"--nnodes={nodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={endpoint}",
            f"--rdzv-id={run_id}",
        ]
    )
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *where,
        f"--nproc-per-node={processes}",
        "-m",
        __name__,
        f"{target.__module__}:{target.__qualname__}",
        json.dumps(kwargs),
    ]


def across_allocation(
    nodes: int, processes: int, target: Callable, kwargs: dict[str, Any], environ: Mapping[str, str] = os.environ
) -> list[str]:
    """The command that starts one torchrun on each node of this job's SLURM allocation (srun), meeting
    at the first node under the job's id. The port is $DATAENGINE_RENDEZVOUS_PORT, else one derived
    from the job id, so that two jobs sharing a first node do not meet. `--overlap`: the step runs
    beside the one Snakemake's job runs in, which holds the first node's CPUs and GPUs."""
    job, nodelist = environ.get("SLURM_JOB_ID"), environ.get("SLURM_JOB_NODELIST")
    if not (job and nodelist):
        raise ValueError(
            f"train.nodes is {nodes}: the train job must run in a SLURM allocation of {nodes} nodes "
            "(SLURM_JOB_ID or SLURM_JOB_NODELIST is unset); set `nodes` in the profile's resources "
            "of the train rule (README, 'Training on several GPUs')"
        )
    hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    hosts = hosts.stdout.split()
    if len(hosts) != nodes:
        raise ValueError(
            f"train.nodes is {nodes} but SLURM job {job} has {len(hosts)} node(s) ({nodelist}); "
            "ask for as many (`nodes` in the profile's resources of the train rule)"
        )
    port = environ.get(RENDEZVOUS_PORT) or DEFAULT_PORTS[int(job) % len(DEFAULT_PORTS)]
    return [
        "srun",
        f"--nodes={nodes}",
        f"--ntasks={nodes}",
        "--ntasks-per-node=1",
        "--overlap",
        "--kill-on-bad-exit=1",
        *torchrun(processes, target, kwargs, nodes, f"{hosts[0]}:{port}", job),
    ]


@contextmanager
def on_sigterm(action: Callable[[], object]) -> Iterator[None]:
    """While inside, SIGTERM (preemption, time limit, scancel) calls `action` instead of ending the
    process; the previous handler is restored after. Handlers can only be set from the main thread;
    elsewhere SIGTERM keeps its usual effect."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: action())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def started() -> bool:
    """Whether this process is one of a launched group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if started() else 0


def world_size() -> int:
    return dist.get_world_size() if started() else 1


def is_main() -> bool:
    """Rank 0 alone writes files: checkpoints, the model, logs."""
    return rank() == 0


def shard(rows: list[int]) -> list[int]:
    """This process's contiguous share of a global batch (sizes differ by at most one)."""
    size, extra = divmod(len(rows), world_size())
    start = rank() * size + min(rank(), extra)
    return rows[start : start + size + (rank() < extra)]


def wrap(model: torch.nn.Module, how: str = "ddp") -> torch.nn.Module:
    """The model made data-parallel over the processes (`train.sharding`): `ddp`, a replica per process
    under DistributedDataParallel, which averages the gradients during backward; `fsdp`, sharded
    over them (dataengine.train.sharding), with gradients averaged as they are reduced to their shards.
    Under DDP the graph is the same every step (`static_graph`), which lets parameters that get no
    gradient (LLaVA leaves the vision tower's last layers unused) stay without one, as in one process."""
    if world_size() == 1:
        return model
    if how == "fsdp":
        return sharding.shard(model)
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None, static_graph=True)


def whole(model: torch.nn.Module) -> torch.nn.Module | None:
    """The trained model, whole: as it is, unless sharded; then gathered on rank 0 (a collective call)
    and None on the other processes."""
    return sharding.unsharded(model) if sharding.is_sharded(model) else model


def all_sum(values: list[float]) -> list[float]:
    """The element-wise sum of `values` over the processes."""
    if world_size() == 1:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def gather(value: Any) -> list[Any]:
    """Every process's `value` (picklable), in rank order, on every process."""
    if world_size() == 1:
        return [value]
    values = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


@record  # torchrun's failure summary then holds the failing process's traceback
def main() -> None:
    """torchrun's entry point: `python -m dataengine.train.distributed MODULE:FUNCTION KWARGS_JSON`."""
    target, kwargs = sys.argv[1], json.loads(sys.argv[2])
    module, name = target.split(":")
    rank_here = int(os.environ["RANK"])
    logging.basicConfig(
        level=logging.INFO if rank_here == 0 else logging.WARNING,
        format=f"%(asctime)s rank {rank_here} %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # The others wait in their next collective while rank 0 writes a checkpoint: a 7B one takes minutes.
    timeout = timedelta(hours=1)
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)  # "cuda" now means this process's GPU, also to model loading
        dist.init_process_group("nccl", device_id=device, timeout=timeout)
    else:
        dist.init_process_group("gloo", timeout=timeout)
    try:
        getattr(importlib.import_module(module), name)(**kwargs)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""`make bench-teacher`: the openai teacher against the local fake server, on the figures of issue 4.

Starts `python -m tools.fake_openai` (a separate process, as a real server would be) with 200 ms
latency and measures, for synthetic queries:
- rps with 32 requests in flight, against the ideal (in_flight / latency) and the paper's pacing
  (one call at a time plus a 5 s sleep; per-call time measured here with one request in flight);
- calls_on_rerun: HTTP requests a second run over the same cache makes;
- repeated_calls_after_kill: successful calls served twice (counted by the server) when a generation
  process is stopped with SIGTERM at about half way and run again (SIGKILL is printed too: the
  replies in flight at that instant are lost with the process, so it may repeat up to in_flight);
- fault_rate / lost_recoverable: with 20 % mixed injected faults, the samples a fault-free run
  gets that this run does not.
Writes results/bench/teacher.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from dataengine.core.config import validate_config
from dataengine.core.jsonl import write_jsonl
from dataengine.teacher.llm.generation import generate_openai
from dataengine.teacher.oracle import synthetic_queries
from dataengine.teacher.validate import check_reply

REPO = Path(__file__).resolve().parent.parent
LATENCY_S, IN_FLIGHT, PAPER_SLEEP_S = 0.2, 32, 5.0


class Server:
    """The fake server in its own process; stats read over HTTP."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.fake_openai", "--port", "0", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self.process.stdout.readline().split()[-1]

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/_stats") as reply:
            return json.load(reply)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def teacher(base_url: str, cache: Path, **knobs) -> dict:
    cfg = {
        "kind": "openai",
        "model": "fake-teacher",
        "base_url": base_url,
        "cache": str(cache),
        "api_key_env": "DATAENGINE_BENCH_NO_KEY",
        "in_flight": IN_FLIGHT,
        **knobs,
    }
    return validate_config({"teacher": cfg})["teacher"]


def valid(responses: list[dict], queries: list[dict]) -> set[str]:
    """Query ids whose response is a usable sample."""
    by_id = {q["query_id"]: q for q in queries}
    return {
        r["query_id"]
        for r in responses
        if "failure" not in r and check_reply(r["content"], by_id[r["query_id"]])[0] is not None
    }


def stop_half_way(server: Server, work: Path, queries: list[dict], cfg: dict, seed: int, sig: int) -> int:
    """Run generation in a process, send `sig` once half the replies are served, run it again to the
    end; the successful calls the server served twice."""
    config = work / f"config-{seed}.yaml"
    config.write_text(yaml.safe_dump({"run": "bench-teacher", "seed": seed, "teacher": cfg}))
    command = [
        sys.executable,
        "-m",
        "dataengine.cli",
        "teacher",
        "generate",
        "--configfile",
        str(config),
        "--queries",
        str(work / "queries.jsonl"),
        "--out",
        str(work / f"responses-{seed}.jsonl"),
        "--stats",
        str(work / f"generation-{seed}.json"),
    ]
    before = server.stats()
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
    while server.stats()["ok"] - before["ok"] < len(queries) // 2:
        time.sleep(0.02)
    process.send_signal(sig)
    process.wait()
    subprocess.run(command, cwd=REPO, stderr=subprocess.DEVNULL, check=True)
    return server.stats()["repeated_ok"] - before["repeated_ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-type", type=int, default=120, help="queries per question type (9 types)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench" / "teacher.json")
    args = parser.parse_args()
    queries = synthetic_queries(args.per_type, seed=0)
    work = Path(tempfile.mkdtemp(prefix="bench-teacher-"))
    write_jsonl(work / "queries.jsonl", queries)

    server = Server("--latency", str(LATENCY_S))
    try:
        cfg = teacher(server.base_url, work / "cache.sqlite")
        start = time.perf_counter()
        reference = generate_openai(queries, cfg, seed=0)
        rps = reference.stats["calls"] / (time.perf_counter() - start)  # identical queries share a call
        before = server.stats()["requests"]
        generate_openai(queries, cfg, seed=0)
        calls_on_rerun = server.stats()["requests"] - before

        sequential = queries[:: len(queries) // 10][:10]
        start = time.perf_counter()
        generate_openai(sequential, teacher(server.base_url, work / "sequential.sqlite", in_flight=1), seed=0)
        per_call = (time.perf_counter() - start) / len(sequential)

        kill_cfg = teacher(server.base_url, work / "killed.sqlite")
        repeated_term = stop_half_way(server, work, queries, kill_cfg, seed=1, sig=signal.SIGTERM)
        repeated_kill = stop_half_way(server, work, queries, kill_cfg, seed=2, sig=signal.SIGKILL)
    finally:
        server.close()

    faulty = Server("--latency", str(LATENCY_S), "--fault-rate", "0.2", "--hang", "3", "--seed", "1")
    try:
        cfg = teacher(faulty.base_url, work / "faults.sqlite", timeout_s=1.0)
        generation = generate_openai(queries, cfg, seed=0)
        stats = faulty.stats()
    finally:
        faulty.close()
    lost = valid(reference.responses, queries) - valid(generation.responses, queries)

    result = {
        "latency_s": LATENCY_S,
        "in_flight": IN_FLIGHT,
        "rps": round(rps, 1),
        "ideal_rps": IN_FLIGHT / LATENCY_S,
        "paper_pacing_rps": round(1.0 / (per_call + PAPER_SLEEP_S), 4),
        "calls_on_rerun": calls_on_rerun,
        "repeated_calls_after_kill": repeated_term,
        "fault_rate": round(sum(stats["faults"].values()) / stats["requests"], 3),
        "lost_recoverable": len(lost),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"queries {len(queries)}; one call at a time: {per_call * 1000:.0f} ms per call")
    print(f"after SIGKILL at half way (replies in flight die with the process): {repeated_kill} repeated calls")
    print(
        f"faults injected {stats['faults']}; teacher retries {generation.stats['retries']}, "
        f"content failures {generation.stats['content_failures']}, final failures {generation.stats['failures']}"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

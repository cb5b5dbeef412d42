"""`make demo`: the offline default loop, its teacher behind the local OpenAI-compatible server with
some faults on (config/demo.yaml says which), so that results/demo/report/index.html shows cost and
rejections at work. Offline and deterministic.

Usage: python tools/demo.py [--cores 2] [snakemake arguments ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tools.fake_openai import FAULTS, FakeOpenAI, FakeSettings

REPO = Path(__file__).resolve().parent.parent
PORT = 8766  # config/demo.yaml's teacher.base_url
FAULT_RATE = 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    args, snakemake_args = parser.parse_known_args()
    faults = tuple(fault for fault in FAULTS if fault != "hang")  # a hang waits out the client's timeout
    settings = FakeSettings(latency_s=0.01, fault_rate=FAULT_RATE, faults=faults, seed=0)
    try:
        server = FakeOpenAI(settings, port=PORT)
    except OSError as err:
        sys.exit(f"demo: cannot serve the teacher on 127.0.0.1:{PORT} ({err.strerror}); is another demo running?")
    snakemake = Path(sys.executable).parent / "snakemake"
    command = [
        str(snakemake),
        "--cores",
        str(args.cores),
        "--configfile",
        "config/config.yaml",
        "config/demo.yaml",
        *snakemake_args,
    ]
    with server:
        print(f"demo: the teacher is served at {server.base_url}; {' '.join(command[1:])}", flush=True)
        status = subprocess.run(command, cwd=REPO).returncode
        stats = server.stats()
    print(
        f"demo: the teacher answered {stats['requests']} requests, "
        f"{sum(stats['faults'].values())} of them with a fault {stats['faults']}; "
        "the run's report: results/demo/report/index.html"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())

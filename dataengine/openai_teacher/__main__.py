"""Command line of the openai teacher: what generation will cost, and generation outside Snakemake.

    python -m dataengine.openai_teacher estimate --configfile my.yaml --queries results/<run>/iter_1/plan/queries.jsonl
    python -m dataengine.openai_teacher generate --configfile my.yaml --queries Q --out responses.jsonl --stats gen.json

Both use the `teacher` section of the config (with the overrides of `--iteration`) and the run's cache
(results/<run>/cache/teacher.sqlite unless teacher.cache says otherwise), so `estimate` counts only
the calls a run would really make. The key is read from the environment, as in the workflow.
"""

from __future__ import annotations

import argparse
import json
import logging

from dataengine.config import knobs, load_config
from dataengine.jsonl import read_jsonl
from dataengine.openai_teacher.settings import cache_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dataengine.openai_teacher", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["estimate", "generate"])
    parser.add_argument("--configfile", required=True)
    parser.add_argument("--queries", required=True, help="a plan's queries.jsonl")
    parser.add_argument("--iteration", type=int, default=1, help="whose per_iteration overrides apply")
    parser.add_argument("--out", help="generate: responses.jsonl to write")
    parser.add_argument("--stats", help="generate: generation.json to write")
    parser.add_argument(
        "--restart-damaged-cache",
        action="store_true",
        help="move an emptied or garbled cache aside and start a new one (teacher.restart_damaged_cache)",
    )
    args = parser.parse_args(argv)
    config = load_config(args.configfile)
    teacher = knobs(config, "teacher", args.iteration)
    if teacher["kind"] != "openai":
        parser.error(f"{args.configfile}: teacher.kind is {teacher['kind']!r}, not 'openai'")
    teacher["cache"] = cache_path(teacher, f"results/{config['run']}")
    teacher["restart_damaged_cache"] = teacher["restart_damaged_cache"] or args.restart_damaged_cache
    if args.command == "estimate":
        from dataengine.openai_teacher.generation import estimate

        print(json.dumps(estimate(read_jsonl(args.queries), teacher, config["seed"]), indent=2))
        return
    if not (args.out and args.stats):
        parser.error("generate needs --out and --stats")
    from dataengine import pipeline

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pipeline.generate(args.queries, args.out, args.stats, teacher, config["seed"])


if __name__ == "__main__":
    main()

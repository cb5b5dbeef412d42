"""The `dataengine` command: work outside the Snakemake DAG.

    dataengine prompt optimize --qtype 5 [--rounds 3] [--samples 20] [--reviewer terminal|file|auto] [--feedback F]
    dataengine prompt history --qtype 5

Both read `--configfile` (repeatable overlays, merged in order, then validated): the `teacher`
section says which endpoint, model and prompt folder to start from; `prompt_optimization` holds the
correctness target, rounds, samples and where sessions and versions are kept.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from dataengine.config import deep_merge, knobs, validate_config
from dataengine.jsonl import read_jsonl
from dataengine.openai_teacher.settings import resolve_prompts
from dataengine.prompt_opt import AutoReviewer, FileReviewer, Options, TerminalReviewer, history, optimize


def _config(paths: list[str]) -> dict:
    merged: dict = {}
    for path in paths:
        try:
            merged = deep_merge(merged, yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError) as err:
            raise SystemExit(f"cannot read config {path}: {err}") from None
    return validate_config(merged, source=" + ".join(paths))


def _options(args: argparse.Namespace, config: dict) -> Options:
    opt = config["prompt_optimization"]
    return Options(
        qtype=args.qtype,
        rounds=getattr(args, "rounds", None) or opt["rounds"],
        samples=getattr(args, "samples", None) or opt["samples"],
        target=opt["target"],
        seed=config["seed"],
        sessions=Path(args.sessions or opt["sessions"]),
        versions=Path(args.versions or opt["versions"]),
    )


def _optimize(args: argparse.Namespace, config: dict) -> None:
    options = _options(args, config)
    teacher = knobs(config, "teacher", 1)
    if teacher["kind"] != "openai":
        raise SystemExit(f"teacher.kind is {teacher['kind']!r}: prompt optimisation needs the openai teacher")
    pool_file = Path(args.pool or f"results/{config['run']}/pool/annotations.jsonl")
    if not pool_file.exists():
        raise SystemExit(f"no pool at {pool_file}: build one (snakemake --until pool) or pass --pool")
    if args.reviewer == "file":
        if not args.feedback:
            raise SystemExit("--reviewer file needs --feedback FILE")
        reviewer = FileReviewer(args.feedback)
    elif args.reviewer == "auto":
        reviewer = AutoReviewer()
    else:
        reviewer = TerminalReviewer(pool_file.parent, editor=os.environ.get("EDITOR", "vi"))
    session = optimize(options, teacher, resolve_prompts(teacher["prompts"]), read_jsonl(pool_file), reviewer)
    if session.end:
        chosen = options.versions / session.version
        print(f"session ended ({session.end['reason']}); version {session.version}: set teacher.prompts: {chosen}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dataengine", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True)
    prompt = groups.add_parser("prompt", help="interactive prompt optimisation").add_subparsers(
        dest="command", required=True
    )
    for name in ("optimize", "history"):
        sub = prompt.add_parser(name)
        sub.add_argument("--configfile", action="append", help="config and overlays (default config/config.yaml)")
        sub.add_argument("--qtype", type=int, required=True)
        sub.add_argument("--sessions", help="overrides prompt_optimization.sessions")
        sub.add_argument("--versions", help="overrides prompt_optimization.versions")
        if name == "optimize":
            sub.add_argument("--rounds", type=int)
            sub.add_argument("--samples", type=int)
            sub.add_argument("--pool", help="annotations.jsonl (default results/<run>/pool/annotations.jsonl)")
            sub.add_argument("--reviewer", choices=["terminal", "file", "auto"], default="terminal")
            sub.add_argument("--feedback", help="--reviewer file: YAML/JSON {sample_id: {verdict, note}} or JSONL")
    args = parser.parse_args(argv)
    config = _config(args.configfile or ["config/config.yaml"])
    try:
        if args.command == "optimize":
            _optimize(args, config)
        else:
            print(history(_options(args, config)))
    except ValueError as err:
        sys.exit(f"dataengine prompt {args.command}: {err}")
    except KeyboardInterrupt:  # every verdict is already on disk
        sys.exit("interrupted; run the same command to resume")


if __name__ == "__main__":
    main()

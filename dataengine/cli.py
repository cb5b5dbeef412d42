"""The `dataengine` command: work outside the Snakemake DAG.

    dataengine prompt optimize --qtype 5 [--rounds 3] [--samples 20] [--reviewer terminal|file|auto] [--feedback F]
    dataengine prompt history --qtype 5
    dataengine data export --format paper|llava|llava-free accepted.jsonl [...] --out train.json
    dataengine data import paper_release.json --out accepted.jsonl
    dataengine teacher estimate --queries results/<run>/iter_1/plan/queries.jsonl
    dataengine teacher generate --queries Q --out responses.jsonl --stats generation.json

The prompt and teacher commands read `--configfile` (repeatable overlays, merged in order, then
validated): the `teacher` section says which endpoint, model and prompt folder to use, with the
overrides of `--iteration`, and the run's response cache (results/<run>/cache/teacher.sqlite unless
teacher.cache says otherwise), so `estimate` counts only the calls a run would really make;
`prompt_optimization` holds the correctness target, rounds, samples and where sessions and versions
are kept. Keys are read from the environment, as in the workflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import yaml

from dataengine import exchange
from dataengine.config import deep_merge, knobs, validate_config
from dataengine.jsonl import read_jsonl, write_jsonl
from dataengine.prompt_opt.loop import history, optimize
from dataengine.prompt_opt.reviewers import AutoReviewer, FileReviewer, TerminalReviewer
from dataengine.prompt_opt.session import Options
from dataengine.teacher.llm.settings import cache_path, resolve_prompts


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


def _data(args: argparse.Namespace) -> None:
    """Export accepted samples for other trainers, or import the paper's released data."""
    if args.command == "import":
        samples = exchange.import_paper_json(args.inputs[0], source=args.source)
        write_jsonl(args.out, samples)
    else:
        samples = [sample for path in args.inputs for sample in read_jsonl(path)]
        if args.format == "paper":
            exchange.export_paper_json(samples, args.out)
        else:
            exchange.export_llava_json(samples, args.out, view="free" if args.format == "llava-free" else "lettered")
    print(f"{len(samples)} samples -> {args.out}")


def _teacher(args: argparse.Namespace, config: dict) -> None:
    """What generating a plan's queries will cost, or the generation itself, outside Snakemake."""
    teacher = knobs(config, "teacher", args.iteration)
    if teacher["kind"] != "openai":
        raise SystemExit(f"teacher.kind is {teacher['kind']!r}, not 'openai'")
    teacher["cache"] = cache_path(teacher, f"results/{config['run']}")
    teacher["restart_damaged_cache"] = teacher["restart_damaged_cache"] or args.restart_damaged_cache
    if args.command == "estimate":
        from dataengine.teacher.llm.generation import estimate

        print(json.dumps(estimate(read_jsonl(args.queries), teacher, config["seed"]), indent=2))
        return
    if not (args.out and args.stats):
        raise SystemExit("dataengine teacher generate needs --out and --stats")
    from dataengine import pipeline

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pipeline.generate(args.queries, args.out, args.stats, teacher, config["seed"])


def _add_teacher_commands(groups) -> None:
    teacher = groups.add_parser("teacher", help="the openai teacher's cost estimate, or generation outside Snakemake")
    commands = teacher.add_subparsers(dest="command", required=True)
    for name in ("estimate", "generate"):
        sub = commands.add_parser(name)
        sub.add_argument("--configfile", action="append", help="config and overlays (default config/config.yaml)")
        sub.add_argument("--queries", required=True, help="a plan's queries.jsonl")
        sub.add_argument("--iteration", type=int, default=1, help="whose per_iteration overrides apply")
        sub.add_argument(
            "--restart-damaged-cache",
            action="store_true",
            help="move an emptied or garbled cache aside and start a new one (teacher.restart_damaged_cache)",
        )
        if name == "generate":
            sub.add_argument("--out", help="responses.jsonl to write")
            sub.add_argument("--stats", help="generation.json to write")


def _add_data_commands(groups) -> None:
    data = groups.add_parser("data", help="export accepted samples / import the paper's released data")
    commands = data.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="accepted.jsonl files -> the paper's JSON or LLaVA JSON")
    export.add_argument("inputs", nargs="+", help="accepted.jsonl files (e.g. results/demo/iter_*/data/accepted.jsonl)")
    export.add_argument("--format", choices=["paper", "llava", "llava-free"], default="llava")
    export.add_argument("--out", required=True)
    imported = commands.add_parser("import", help="the paper's released JSON -> accepted.jsonl")
    imported.add_argument("inputs", nargs=1, help="the released JSON (choice_answer or choide_answer)")
    imported.add_argument("--source", default="paper-release", help="recorded as the samples' teacher")
    imported.add_argument("--out", required=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dataengine", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True)
    _add_data_commands(groups)
    _add_teacher_commands(groups)
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
    if args.group == "data":
        try:
            _data(args)
        except ValueError as err:
            sys.exit(f"dataengine data {args.command}: {err}")
        return
    config = _config(args.configfile or ["config/config.yaml"])
    if args.group == "teacher":
        _teacher(args, config)
        return
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

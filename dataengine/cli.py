"""The `dataengine` command: work outside the Snakemake DAG.

    snakemake --cores 2 [--configfile F ...]         run the loop (the README's first command: make demo)
    dataengine config show [--configfile F ...]      the config Snakemake runs with, every default filled in
    dataengine status [RUN]                          where a run stands, from its files
    dataengine compare RUN_A RUN_B [--out FILE.html] two runs side by side: config difference, accuracy
                                                     per type with paired tests, cost, samples
    dataengine doctor [--configfile F ...]           everything a run needs, checked at once
    dataengine prompt init --types T1 [T2 ...] --out FOLDER   a prompt folder to start from for those types
    dataengine prompt optimize --qtype 5|Counting [--rounds 3] [--samples 20]
                               [--reviewer terminal|browser|file|auto] [--feedback F] [--port 8770]
    dataengine prompt history --qtype 5
    dataengine data export --format paper|llava|llava-free|sharegpt|sharegpt-free accepted.jsonl [...] --out train.json
    dataengine data export --format hf [RUN] --out DIR     a run as a Hugging Face dataset with its card
    dataengine data import paper_release.json --out accepted.jsonl
    dataengine teacher estimate --queries results/<run>/iter_1/plan/queries.jsonl
    dataengine teacher generate --queries Q --out responses.jsonl --stats generation.json
    dataengine plan-cost [--configfile F ...] [--json] [--base-samples N] [--eval-items N]
    dataengine evaluate --model DIR --benchmark DIR --scorer letter|option_text|generate [--batch-size N]
                        [--reference] [--dtype bfloat16] --out scores.jsonl

The commands that read a config take `--configfile` (repeatable) and resolve it as Snakemake does:
config/config.yaml, then each file over it in order, then validated, every default filled in
(`dataengine config show` prints the result). The teacher commands use the `teacher` section with
the overrides of `--iteration` and the run's response cache, so `estimate` counts only the calls a run
would really make; keys are read from the environment, as in the workflow. A user's mistake (a missing
file, a bad config key, an unknown type, an endpoint that does not answer) ends a command with one
line on stderr and exit status 2; doctor exits 1 when it finds an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
from importlib import metadata
from pathlib import Path

import yaml

from dataengine.core.config import knobs, resolve
from dataengine.core.jsonl import read_jsonl, write_jsonl
from dataengine.core.layout import RunLayout
from dataengine.core.qtypes import TypeTable, known_types, run_types
from dataengine.data import exchange
from dataengine.endpoint.client import EndpointError
from dataengine.teacher.llm.settings import cache_path, resolve_prompts

SEED_SET = re.compile(r"(^|/)iter_0/data/accepted\.jsonl$")


def _config_show(args: argparse.Namespace) -> None:
    print(yaml.safe_dump(resolve(args.configfile), sort_keys=False, allow_unicode=True), end="")


def _status(args: argparse.Namespace) -> None:
    from dataengine.runs.status import status

    run = args.run or resolve(args.configfile)["run"]
    print(status(Path(run) if Path(run).is_dir() else Path("results") / run))


def _compare(args: argparse.Namespace) -> None:
    """Two runs (names under results/ or folders) side by side: a page, and a text table on stdout."""
    from dataengine.report.compare import compare, render_text, write_page

    folders = [Path(run) if Path(run).is_dir() else Path("results") / run for run in (args.run_a, args.run_b)]
    comparison = compare(*folders)
    out = args.out or Path("results") / f"compare-{folders[0].name}-vs-{folders[1].name}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_page(comparison, out)
    print(render_text(comparison), end="")
    print(f"\nthe page: {out}")


def _doctor(args: argparse.Namespace) -> None:
    from dataengine.runs.doctor import check

    findings = check(resolve(args.configfile))
    print("\n".join(map(str, findings)))
    if any(finding.level == "error" for finding in findings):
        sys.exit(1)


def _prompt(args: argparse.Namespace) -> None:
    from dataengine.teacher.prompt_opt.loop import history, optimize
    from dataengine.teacher.prompt_opt.session import Options

    config = resolve(args.configfile)
    if args.command == "init":
        _prompt_init(args, config)
        return
    opt = config["prompt_optimization"]
    types = known_types(config)
    options = Options(
        qtype=types.parse(args.qtype),
        types=types,
        rounds=getattr(args, "rounds", None) or opt["rounds"],
        samples=getattr(args, "samples", None) or opt["samples"],
        target=opt["target"],
        seed=config["seed"],
        sessions=Path(args.sessions or opt["sessions"]),
        versions=Path(args.versions or opt["versions"]),
    )
    if args.command == "history":
        print(history(options))
        return
    teacher = {**knobs(config, "teacher", 1), "types": types}
    if teacher["kind"] != "openai":
        raise ValueError(f"teacher.kind is {teacher['kind']!r}: prompt optimisation needs the openai teacher")
    pool_file = Path(args.pool or f"results/{config['run']}/pool/annotations.jsonl")
    if not pool_file.exists():
        raise ValueError(f"no pool at {pool_file}: build one (snakemake --until build_pool) or pass --pool")
    with contextlib.ExitStack() as stack:  # the browser reviewer's server stops with the session
        reviewer = _reviewer(args, pool_file.parent, types, stack)
        session = optimize(options, teacher, resolve_prompts(teacher["prompts"]), read_jsonl(pool_file), reviewer)
    if session.end and session.end["reason"] != "no data":
        chosen = options.versions / session.version
        print(f"session ended ({session.end['reason']}); version {session.version}: set teacher.prompts: {chosen}")
    elif session.end:
        print("session ended: no sample of the last round could be judged, so no version is recommended")


def _prompt_init(args: argparse.Namespace, config: dict) -> None:
    """A starting prompt folder for some of the run's types, with example questions from its benchmark:
    the built one, else one built for the purpose in a temporary folder."""
    import tempfile

    from dataengine import pipeline
    from dataengine.data.benchmark import load_items
    from dataengine.teacher.llm.starter import write_starting_prompts

    types = run_types(config)
    chosen = [types.parse(name) for name in args.types]
    built = Path(RunLayout.of(f"results/{config['run']}", config["base_run"]).benchmark) / "items.parquet"
    with tempfile.TemporaryDirectory(prefix="dataengine-benchmark-") as scratch:
        if not built.exists():
            print(f"no benchmark at {built}: reading it from the config's files ...", file=sys.stderr)
            built = Path(scratch) / "items.parquet"
            pipeline.build_benchmark(str(built), config["qtypes"], config["benchmark"], config["seed"])
        found = write_starting_prompts(load_items(built), types, chosen, args.out)
    listed = ", ".join(f"{name} ({n} examples)" for name, n in found.items())
    print(f"{args.out}: prompts for {listed}. Write each definition, then set teacher.prompts: {args.out}")


def _evaluate(args: argparse.Namespace) -> None:
    from dataengine.eval.model_scores import score_folder

    scored = score_folder(
        args.model, args.benchmark, args.scorer, args.out, args.batch_size, args.reference, args.dtype, args.family
    )
    print(f"{scored} items scored ({args.scorer}, {'reference' if args.reference else 'batched'}) -> {args.out}")


def _reviewer(args: argparse.Namespace, image_root: Path, types: TypeTable, stack: contextlib.ExitStack):
    from dataengine.teacher.prompt_opt import reviewers

    if args.reviewer == "file":
        if not args.feedback:
            raise ValueError("--reviewer file needs --feedback FILE")
        return reviewers.FileReviewer(args.feedback)
    if args.reviewer == "auto":
        return reviewers.AutoReviewer()
    if args.reviewer == "browser":
        from dataengine.teacher.prompt_opt.browser import BrowserReviewer

        return stack.enter_context(BrowserReviewer(image_root, types, port=args.port))
    return reviewers.TerminalReviewer(image_root, types, editor=os.environ.get("EDITOR", "vi"))


def _data(args: argparse.Namespace) -> None:
    """Export accepted samples for other trainers, or import the paper's released data."""
    if args.command == "import":
        samples = exchange.import_paper_json(args.inputs[0], source=args.source)
        write_jsonl(args.out, samples)
        print(f"{len(samples)} samples -> {args.out}")
        return
    if args.format == "hf":
        _export_dataset(args)
        return
    if not args.inputs:
        raise ValueError(f"--format {args.format} exports accepted.jsonl files: name them")
    samples = []
    for path in args.inputs:
        if SEED_SET.search(Path(path).as_posix()) and not args.with_seed_set:
            print(f"{path}: left out, the tiny student's seed set (--with-seed-set keeps it)")
            continue
        read = exchange.read_accepted(path)
        print(f"{path}: {len(read)} samples")
        samples += read
    layout, _, view = args.format.partition("-")
    if layout == "paper":
        exchange.export_paper_json(samples, args.out, image_prefix=args.image_prefix)
    else:
        export = exchange.export_llava_json if layout == "llava" else exchange.export_sharegpt_json
        export(samples, args.out, view=view or "lettered", image_prefix=args.image_prefix)
    relative = f"{args.image_prefix}<image>" if args.image_prefix else "relative to the run's pool/ folder"
    print(f"{len(samples)} samples -> {args.out} (image paths {relative}; --image-prefix puts a folder in front)")


def _export_dataset(args: argparse.Namespace) -> None:
    """A run (a name under results/ or a folder; default the config's run) as a Hugging Face dataset."""
    from dataengine.runs.dataset import export_dataset

    if len(args.inputs) > 1:
        raise ValueError(f"--format hf exports one run, given {args.inputs}")
    run = args.inputs[0] if args.inputs else resolve(args.configfile)["run"]
    run_dir = Path(run) if Path(run).is_dir() else Path("results") / run
    counts = export_dataset(run_dir, Path(args.out), with_seed_set=args.with_seed_set)
    per_iteration = ", ".join(f"iteration {i}: {n}" for i, n in counts.items())
    print(f"{sum(counts.values())} samples ({per_iteration}) -> {args.out}/data, card {args.out}/README.md")


def _teacher(args: argparse.Namespace) -> None:
    """What generating a plan's queries will cost, or the generation itself, outside Snakemake."""
    config = resolve(args.configfile)
    teacher = knobs(config, "teacher", args.iteration)
    if teacher["kind"] != "openai":
        raise ValueError(
            f"teacher.kind is {teacher['kind']!r}, not 'openai': the oracle costs nothing and calls no endpoint; "
            "pass a --configfile whose teacher section names one (docs/teacher.md)"
        )
    teacher["cache"] = cache_path(teacher, f"results/{config['run']}")
    teacher["types"] = known_types(config)
    teacher["restart_damaged_cache"] = teacher["restart_damaged_cache"] or args.restart_damaged_cache
    if args.command == "estimate":
        from dataengine.teacher.llm.generation import estimate

        print(json.dumps(estimate(read_jsonl(args.queries), teacher, config["seed"]), indent=2))
        return
    if not (args.out and args.stats):
        raise ValueError("generate needs --out and --stats")
    from dataengine import pipeline

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pipeline.generate(args.queries, args.out, args.stats, teacher, config["seed"])


def _plan_cost(args: argparse.Namespace) -> None:
    """Teacher dollars, training and evaluation GPU hours per iteration, from the config alone."""
    from dataengine.runs.cost import plan_cost, render

    cost = plan_cost(
        resolve(args.configfile), base_samples=args.base_samples, eval_count=args.eval_items, gpu_file=args.gpu_rates
    )
    print(json.dumps(cost, indent=1) if args.json else render(cost))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dataengine",
        description=__doc__.splitlines()[0],
        epilog="The loop itself runs with Snakemake: `make demo` (the offline default), or "
        "`snakemake --cores N [--configfile my.yaml]` from the checkout (README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('dataengine')}")
    groups = parser.add_subparsers(dest="group", metavar="{" + ",".join(COMMANDS) + "}")
    configfile = argparse.ArgumentParser(add_help=False)
    configfile.add_argument(
        "--configfile", action="append", help="an overlay over config/config.yaml, repeatable (as Snakemake's)"
    )

    config = groups.add_parser("config", help="the resolved config")
    config_commands = config.add_subparsers(dest="command", required=True)
    config_commands.add_parser("show", parents=[configfile], help="as YAML, as Snakemake would run it")
    status = groups.add_parser("status", parents=[configfile], help="where a run stands, from its files")
    status.add_argument("run", nargs="?", help="a run name or folder (default: the config's run)")
    groups.add_parser("doctor", parents=[configfile], help="check paths, keys, CUDA and disk before a run")
    compared = groups.add_parser(
        "compare", help="two runs side by side: config difference, accuracy per type (paired), cost, samples"
    )
    compared.add_argument("run_a", metavar="RUN_A", help="a run name under results/ or a run folder")
    compared.add_argument("run_b", metavar="RUN_B", help="the run compared with it (B - A)")
    compared.add_argument(
        "--out", type=Path, help="the page to write (default results/compare-<RUN_A>-vs-<RUN_B>.html)"
    )

    prompt = groups.add_parser("prompt", help="interactive prompt optimisation")
    prompt_commands = prompt.add_subparsers(dest="command", required=True)
    init = prompt_commands.add_parser(
        "init", parents=[configfile], help="a prompt folder to start from, for types of the run's benchmark"
    )
    init.add_argument("--types", nargs="+", required=True, help="type ids or names (the run's qtypes)")
    init.add_argument("--out", type=Path, required=True, help="the folder to write (must not exist)")
    for name in ("optimize", "history"):
        sub = prompt_commands.add_parser(name, parents=[configfile])
        sub.add_argument("--qtype", required=True, help="a type id or name (5, Counting)")
        sub.add_argument("--sessions", help="overrides prompt_optimization.sessions")
        sub.add_argument("--versions", help="overrides prompt_optimization.versions")
        if name == "optimize":
            sub.add_argument("--rounds", type=int)
            sub.add_argument("--samples", type=int)
            sub.add_argument("--pool", help="annotations.jsonl (default results/<run>/pool/annotations.jsonl)")
            sub.add_argument("--reviewer", choices=["terminal", "browser", "file", "auto"], default="terminal")
            sub.add_argument("--feedback", help="--reviewer file: YAML/JSON {sample_id: {verdict, note}} or JSONL")
            sub.add_argument("--port", type=int, default=8770, help="--reviewer browser: the page's port on 127.0.0.1")

    data = groups.add_parser("data", help="export accepted samples / import the paper's released data")
    data_commands = data.add_subparsers(dest="command", required=True)
    export = data_commands.add_parser(
        "export",
        parents=[configfile],
        help="accepted.jsonl files -> the paper's, LLaVA's or ShareGPT JSON; a run -> a Hugging Face dataset",
    )
    export.add_argument(
        "inputs",
        nargs="*",
        help="accepted.jsonl files (e.g. results/demo/iter_*/data/accepted.jsonl); --format hf: a run "
        "name or folder (default: the config's run)",
    )
    export.add_argument(
        "--format", choices=["paper", "llava", "llava-free", "sharegpt", "sharegpt-free", "hf"], default="llava"
    )
    export.add_argument("--out", required=True)
    export.add_argument("--image-prefix", default="", help="put in front of every image path (e.g. results/demo/pool/)")
    export.add_argument(
        "--with-seed-set", action="store_true", help="keep iteration 0's seed set (left out by default)"
    )
    imported = data_commands.add_parser("import", help="the paper's released JSON -> accepted.jsonl")
    imported.add_argument("inputs", nargs=1, help="the released JSON (choice_answer or choide_answer)")
    imported.add_argument("--source", default="paper-release", help="recorded as the samples' teacher")
    imported.add_argument("--out", required=True)

    teacher = groups.add_parser("teacher", help="the openai teacher's cost estimate, or generation outside Snakemake")
    teacher_commands = teacher.add_subparsers(dest="command", required=True)
    for name in ("estimate", "generate"):
        sub = teacher_commands.add_parser(name, parents=[configfile])
        sub.add_argument("--queries", required=True, help="a plan's queries.jsonl")
        sub.add_argument("--iteration", type=int, default=1, help="whose per_iteration overrides apply")
        sub.add_argument(
            "--restart-damaged-cache",
            action="store_true",
            help="move an emptied or garbled cache aside and start a new one",
        )
        if name == "generate":
            sub.add_argument("--out", help="responses.jsonl to write")
            sub.add_argument("--stats", help="generation.json to write")

    cost = groups.add_parser(
        "plan-cost", parents=[configfile], help="a run's teacher dollars and GPU hours, before it starts"
    )
    cost.add_argument("--json", action="store_true", help="the figures and their sources as JSON")
    cost.add_argument(
        "--base-samples",
        type=int,
        help="entries of train.base_data (default: counted in the file, else mix665k's 665,298)",
    )
    cost.add_argument(
        "--eval-items",
        type=int,
        help="items one evaluation scores (default: the built benchmark, else the config's sizes)",
    )
    cost.add_argument(
        "--gpu-rates",
        type=Path,
        help="make bench-gpu's rates (default results/bench/gpu-<family>.json; for LLaVA, else the H200's)",
    )

    evaluate = groups.add_parser("evaluate", help="a model folder's scores on a built benchmark, one line per item")
    evaluate.add_argument("--model", type=Path, required=True, help="an HF model folder of a supported family")
    evaluate.add_argument("--benchmark", type=Path, required=True, help="a built benchmark: items.parquet + images/")
    evaluate.add_argument("--scorer", choices=["letter", "option_text", "generate"], required=True)
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--reference", action="store_true", help="each item alone: one plain forward, no batch")
    evaluate.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    evaluate.add_argument("--family", default="auto", help="the family the folder must hold (default: its own)")
    evaluate.add_argument("--out", type=Path, required=True, help="the JSONL to write")
    return parser


COMMANDS = {
    "config": _config_show,
    "status": _status,
    "compare": _compare,
    "doctor": _doctor,
    "prompt": _prompt,
    "data": _data,
    "teacher": _teacher,
    "plan-cost": _plan_cost,
    "evaluate": _evaluate,
}


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if args.group is None:
        parser.print_help(sys.stderr)
        sys.exit(2)
    if unknown:  # the usage of the command given, not the top level's
        _subparser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    name = " ".join(filter(None, ["dataengine", args.group, getattr(args, "command", None)]))
    try:
        COMMANDS[args.group](args)
    except BrokenPipeError:  # `dataengine plan-cost | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:  # a prompt session has every verdict on disk already
        sys.exit(f"{name}: interrupted; run the same command to resume")
    except (ValueError, OSError, EndpointError) as err:
        print(f"{name}: {_message(err)}", file=sys.stderr)
        sys.exit(2)


def _subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command `args` ran (`teacher estimate`'s, not `teacher`'s)."""
    for name in (args.group, getattr(args, "command", None)):
        actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
        if name is None or not actions:
            break
        parser = actions[0].choices[name]
    return parser


def _message(err: Exception) -> str:
    """One line: an OSError's reason and file, or the error's own text."""
    if isinstance(err, OSError) and err.filename:
        return f"{err.strerror or err}: {err.filename}"
    return str(err)


if __name__ == "__main__":
    main()

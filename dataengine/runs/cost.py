"""What a run will cost, before it starts, from its config alone (`dataengine plan-cost`).

Per iteration: the samples the teacher is asked for, its requests, tokens and dollars; the records,
sequences and tokens each training sees; the items each evaluation scores; and the GPU hours of both.
The counts are upper bounds (validation rejects some replies, so fewer samples reach training). Every
constant the figures rest on is a measured one and the result names where each came from, so a
person can tell a measured rate from an assumption.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import polars as pl

from dataengine.core.config import knobs
from dataengine.core.qtypes import run_types
from dataengine.endpoint.ledger import ledger_path
from dataengine.model.families import family_of_folder
from dataengine.teacher.llm.runner import estimate_tokens
from dataengine.teacher.llm.settings import OpenAISettings, cache_path

# Tokens per teacher reply while a run has no ledger of its own: `make demo`'s ledger at commit 7256d55
# (docs/teacher.md): 3,551,104 prompt and 254,361 completion tokens over 5,580 replies, the local server
# counting 4 characters a token, over synthetic annotations (a COCO pool's run longer).
DEMO_PROMPT_TOKENS = 3_551_104 / 5_580
DEMO_COMPLETION_TOKENS = 254_361 / 5_580
DEMO_SOURCE = (
    "docs/teacher.md: make demo's ledger, 636.4 prompt + 45.6 completion tokens a reply (synthetic annotations; a "
    "COCO pool's prompts run longer); the run's own ledger replaces them once it has replies"
)

# One H200, bf16, a LLaVA-1.5-7B-shaped model (docs/gpu.md, measured 2026-11-30); used for a LLaVA run
# when `make bench-gpu` has not written results/bench/gpu-llava.json. A LoRA sample was 613 tokens (576 image).
H200_RATES = {"letter": 50.0, "generate": 12.2, "lora": 10.9, "lora_checkpointed": 7.3, "tokens_per_sample": 613}
H200_SOURCE = "docs/gpu.md (one H200, bf16, LLaVA-1.5-7B shape, 2026-11-30)"
IMAGE_TOKENS = 576  # LLaVA-1.5's (336 / 14)^2 patches: what an image adds to a base-data entry
MIX665K_ENTRIES = 665_298  # llava_v1_5_mix665k.json, the paper's v2 base data
# SEED-Bench v1's image questions per dimension (qtype 1-9; its paper's table, 14,233 in all), for a
# seedbench run whose benchmark is not built yet.
SEED_BENCH_ITEMS = {1: 3158, 2: 1831, 3: 4649, 4: 978, 5: 2447, 6: 657, 7: 97, 8: 331, 9: 85}


def gpu_rates(path: Path, family: str | None = "llava") -> dict:
    """Items or samples per second per GPU for a model of `family`, with their source: `make bench-gpu`'s
    file when it holds a 7B-scale measurement of that family, else the H200 figures of LLaVA-1.5-7B for
    a LLaVA run; for another family without a measurement, none (the GPU hours are then unknown)."""
    if path.is_file():
        bench = json.loads(path.read_text())
        if bench.get("shape") != "tiny" and bench.get("family", "llava") == family:
            lora = bench.get("lora_samples_per_s")
            return {
                "letter": bench.get("letter_items_per_s"),
                "generate": bench.get("generate_items_per_s"),
                "lora": lora,
                "lora_checkpointed": lora,
                "tokens_per_sample": bench.get("tokens_per_sample") or H200_RATES["tokens_per_sample"],
                "source": f"{path} ({bench.get('device')}, gradient checkpointing "
                f"{bench.get('gradient_checkpointing')})",
            }
    if family == "llava":
        return {**H200_RATES, "source": H200_SOURCE}
    unmeasured = dict.fromkeys(H200_RATES)
    return {
        **unmeasured,
        "source": f"none measured for the {family or 'unknown'} family: `make bench-gpu` with "
        f"--family on a GPU writes them to {path}",
    }


def run_family(config: dict) -> str | None:
    """The student's family: student.family, else the model folder's (None while it is not on disk)."""
    student = config["student"]
    if student["family"] != "auto":
        return student["family"]
    if student["base"] == "assembled":  # LLaVA's released parts, put together
        return "llava"
    try:
        return family_of_folder(student["base"]).name
    except (OSError, ValueError):
        return None


def base_data_size(config: dict, base_samples: int | None) -> tuple[int, float | None, str]:
    """Entries of train.base_data and their mean tokens (None: not counted), with the source: the
    file itself when it exists (text at ~4 characters a token, plus an image's tokens), else
    `base_samples` (default: mix665k's entry count)."""
    data = config["train"]["base_data"]
    path = Path(data["path"]) if data else None
    if base_samples is None and path is not None and path.is_file():
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read train.base_data: {err}") from None
        tokens = sum(
            estimate_tokens([{"content": turn["value"]} for turn in entry["conversations"]])
            + (IMAGE_TOKENS if entry.get("image") else 0)
            for entry in entries
        )
        return len(entries), tokens / max(len(entries), 1), f"counted in {path}"
    if base_samples is not None:
        return base_samples, None, "--base-samples"
    where = f"{path} not found" if path else "no train.base_data"
    return MIX665K_ENTRIES, None, f"llava_v1_5_mix665k.json's entries ({where}; --base-samples sets it)"


def eval_items(config: dict, results: Path, given: int | None) -> tuple[int | None, str]:
    """Items one iteration's evaluations score, with the source: the main benchmark (`given`, else as
    `_benchmark_items` finds it) plus each report benchmark that can be counted (the others are named
    as not counted)."""
    shared = results / (config["base_run"] or config["run"])
    n, source = (
        (given, "--eval-items")
        if given is not None
        else _benchmark_items(config["benchmark"], shared / "benchmark", config)
    )
    sources = [source]
    for name, section in config["report_benchmarks"].items():
        extra, extra_source = _benchmark_items(section, shared / "report_benchmarks" / name, config)
        sources.append(f"{name}: {extra_source}" + ("" if extra is not None else ", not counted"))
        n = n + extra if n is not None and extra is not None else n
    return n, "; ".join(sources)


def _benchmark_items(bench: dict, built: Path, config: dict) -> tuple[int | None, str]:
    """Items of one benchmark: counted where it is built, else the synthetic benchmark's sizes or
    SEED-Bench's published counts; MMBench and A-OKVQA are counted once built."""
    items = built / "items.parquet"
    if items.is_file():
        return pl.scan_parquet(items).select(pl.len()).collect().item(), f"counted in {items}"
    if bench["kind"] == "synthetic":
        n = (bench["dev_per_type"] + bench["test_per_type"]) * len(config["qtypes"])
        return n, "benchmark.dev_per_type + test_per_type, per type"
    if bench["kind"] == "seedbench" and not bench.get("qtype_map"):
        return sum(SEED_BENCH_ITEMS[t] for t in config["qtypes"]), "SEED-Bench v1's image questions of the qtypes"
    return None, f"{items} not built yet (--eval-items gives the main benchmark's count)"


def token_rates(config: dict, results: Path) -> tuple[float, float, str]:
    """Prompt and completion tokens per teacher reply, and their source: the run's own ledger once it
    holds replies, else the figures docs/teacher.md gives."""
    ledger = ledger_path(cache_path(config["teacher"], str(results / config["run"])))
    replies = [entry for entry in _ledger_entries(ledger) if entry.get("event") == "reply"]
    if not replies:
        return DEMO_PROMPT_TOKENS, DEMO_COMPLETION_TOKENS, DEMO_SOURCE
    prompt = sum(entry["prompt_tokens"] for entry in replies) / len(replies)
    completion = sum(entry["completion_tokens"] for entry in replies) / len(replies)
    return (
        prompt,
        completion,
        f"your ledger {ledger}: {prompt:.1f} prompt + {completion:.1f} completion tokens a reply over {len(replies):,}",
    )


def _ledger_entries(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _teacher(config: dict, iteration: int, samples: int, tokens: tuple[float, float, str]) -> dict:
    """Requests, tokens and USD of asking the teacher for `samples` samples (the oracle is free)."""
    teacher = knobs(config, "teacher", iteration)  # iteration 0 (the seed set) has no override
    if teacher["kind"] != "openai":
        return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "usd": 0.0, "usd_max": 0.0}
    settings = OpenAISettings.from_config(teacher)
    batch = settings.mode == "batch"
    prompt, completion = samples * tokens[0], samples * tokens[1]
    return {
        "requests": samples,
        "input_tokens": round(prompt),
        "output_tokens": round(completion),
        "usd": round(settings.cost(prompt, completion, batch=batch), 4),
        "usd_max": round(settings.cost(prompt, samples * settings.max_tokens, batch=batch), 4),  # at max_tokens
    }


def _train(config: dict, iteration: int, new: int, earlier: int, base: tuple[int, float | None], rates: dict) -> dict:
    """Records, sequences, tokens and GPU hours of iteration `iteration`'s training. incremental: the
    new samples plus replay, in every view; from_start: base_data plus every engine sample so far
    (the views apply to engine samples; a base entry is one record)."""
    train = knobs(config, "train", iteration)
    views = len(train["views"])
    from_start = train["regime"] == "from_start"
    if from_start:
        base_records, engine_records = base[0], (new + earlier) * views
    else:
        base_records, engine_records = 0, (new + min(train["replay"], earlier)) * views
    records = base_records + engine_records
    if records == 0:
        return {"records": 0, "sequences": 0, "tokens": 0, "gpu_hours": 0.0, "wall_hours": 0.0}
    if train["epochs"]:
        sequences = math.ceil(train["epochs"] * records / train["batch_size"]) * train["batch_size"]
    else:
        sequences = train["steps"] * train["batch_size"]
    per_record = rates["tokens_per_sample"]
    tokens = (
        sequences / records * (base_records * (base[1] or per_record) + engine_records * per_record)
        if per_record
        else None
    )
    rate = _train_rate(train, rates)
    # a sequence costs in proportion to its tokens, relative to the sample the rate was measured on
    gpu_hours = tokens / per_record / rate / 3600 if rate and tokens else None
    return {
        "regime": train["regime"],
        "records": records,
        "base_records": base_records,
        "engine_records": engine_records,
        "sequences": sequences,
        "tokens": None if tokens is None else round(tokens),
        "processes": train["processes"] * train["nodes"],  # one per GPU
        "gpu_hours": _round(gpu_hours),
        "wall_hours": _round(gpu_hours / (train["processes"] * train["nodes"]) if gpu_hours is not None else None),
    }


def _train_rate(train: dict, rates: dict) -> float | None:
    """Samples per second per GPU for the method: LoRA's (with recomputation where the config asks
    for it; `auto` keeps the activations on an H200); no full fine-tuning rate was measured."""
    if train["method"] != "lora":
        return None
    return rates["lora_checkpointed" if train["gradient_checkpointing"] is True else "lora"]


def _round(hours: float | None) -> float | None:
    return None if hours is None else round(hours, 3)


def plan_cost(
    config: dict,
    *,
    base_samples: int | None = None,
    eval_count: int | None = None,
    gpu_file: Path | None = None,
    results: Path = Path("results"),
) -> dict:
    """The run's cost per iteration and in total, with the source of every figure. Iteration 0 is the
    start: the tiny student's seed set, from_start's training on base_data alone, the first evaluation
    (none of it when `base_run` makes iteration 0). The GPU rates are `gpu_file`'s, by default what
    `make bench-gpu` measured for the student's family (results/bench/gpu-<family>.json)."""
    on_gpu = config["student"]["base"] != "tiny"  # the rates are a 7B model's; the tiny one trains on a CPU
    family = run_family(config) if on_gpu else None
    rates = gpu_rates(gpu_file or results / "bench" / f"gpu-{family}.json", family)
    tokens = token_rates(config, results)
    base = base_data_size(config, base_samples) if config["train"]["regime"] == "from_start" else (0, None, None)
    n_eval, eval_source = eval_items(config, results, eval_count)
    eval_rate = rates.get(config["student"]["scoring"]) if on_gpu else None
    seed_set = config["student"]["tiny"]["seed_set"]["per_type"] if config["student"]["base"] == "tiny" else {}
    engine = 0  # samples asked for before this iteration, the seed set included (replay draws on it)
    rows = []
    for iteration in range(config["iterations"] + 1):
        if iteration == 0:
            new = sum(n for t, n in seed_set.items() if int(t) in run_types(config))
        else:
            new = knobs(config, "sampling", iteration)["budget"]
        shared = iteration == 0 and config["base_run"] is not None
        trains = iteration > 0 or config["train"]["regime"] == "from_start"
        train = _train(config, iteration, new if iteration else 0, engine, base[:2], rates) if trains else None
        if train and not on_gpu:
            train["gpu_hours"] = train["wall_hours"] = None
        rows.append(
            {
                "iteration": iteration,
                "shared_with_base_run": shared,
                "samples": 0 if shared else new,
                "teacher": _teacher(config, iteration, 0 if shared else new, tokens),
                "train": None if shared else train,
                "evaluate": None
                if shared
                else {
                    "items": n_eval,
                    "gpu_hours": _round(n_eval / eval_rate / 3600) if n_eval and eval_rate else None,
                },
            }
        )
        engine += new
    return {
        "run": config["run"],
        "iterations": rows,
        "warnings": _over_budget(config, rows),
        "total": _total(rows),
        "sources": {
            "teacher_tokens": tokens[2],
            "gpu_rates": rates["source"] if on_gpu else "none: the tiny student trains on a CPU",
            "rates_used": {k: v for k, v in rates.items() if k != "source"} if on_gpu else {},
            "eval_items": eval_source,
            **({"base_data": _base_source(base, rates)} if base[2] else {}),
        },
    }


def _base_source(base: tuple[int, float | None, str], rates: dict) -> str:
    entries, tokens, source = base
    if tokens is None:  # not counted: a lower bound, as mix665k's conversations are often multi-turn
        per_record = rates["tokens_per_sample"]
        return f"{entries:,} entries, {source}; each assumed as long as an engine record ({per_record} tokens)"
    return f"{entries:,} entries of {tokens:.0f} tokens, {source}"


def _over_budget(config: dict, rows: list[dict]) -> list[str]:
    """Generation steps that teacher.budget_usd could stop early (it keeps what is done)."""
    warnings = []
    for row in rows:
        cap = knobs(config, "teacher", row["iteration"])["budget_usd"]
        cost = row["teacher"]
        if cap is not None and cost["usd_max"] > cap:
            at = "at the measured reply length" if cost["usd"] > cap else "if replies reach max_tokens"
            warnings.append(
                f"iteration {row['iteration']}: teacher.budget_usd {cap} stops generation {at} "
                f"({cost['usd']:.2f} USD measured, {cost['usd_max']:.2f} at max_tokens)"
            )
    return warnings


def _total(rows: list[dict]) -> dict:
    """Sums over the iterations; an unknown GPU figure makes its stage's total unknown."""

    def add(values):
        values = list(values)
        return None if any(v is None for v in values) else round(sum(values), 4)

    trained = [r["train"] for r in rows if r["train"]]
    evaluated = [r["evaluate"] for r in rows if r["evaluate"]]
    total = {"samples": sum(r["samples"] for r in rows)}
    total |= {key: add(r["teacher"][key] for r in rows) for key in rows[0]["teacher"]}
    total |= {
        f"train_{key}": add(t[key] for t in trained) for key in ("sequences", "tokens", "gpu_hours", "wall_hours")
    }
    total |= {
        "eval_items": add(e["items"] for e in evaluated),
        "eval_gpu_hours": add(e["gpu_hours"] for e in evaluated),
    }
    return total


def render(cost: dict) -> str:
    """The cost as two tables a person reads (the teacher's, the GPU's), with the sources of their
    figures underneath; no cell is wrapped or cut: a terminal narrower than a table gets it whole."""
    from rich.console import Console

    rows = [_cells(row) for row in [*cost["iterations"], {"iteration": "total", **_as_row(cost["total"])}]]
    title = f"plan-cost: {cost['run']} (upper bounds: validation rejects some replies)"
    teacher_columns = ["iter", "samples", "requests", "in / out tokens", "USD (at max_tokens)"]
    gpu_columns = [
        "iter",
        "train records",
        "train sequences",
        "train tokens",
        "train GPU h (wall)",
        "eval items",
        "eval GPU h",
    ]
    teacher = _table(title, teacher_columns, [cells[:5] for cells in rows])
    gpu = _table(None, gpu_columns, [cells[:1] + cells[5:] for cells in rows])
    console = Console(width=10_000, force_terminal=False)
    natural = max(console.measure(table).maximum for table in (teacher, gpu))
    console.width = max(shutil.get_terminal_size((120, 24)).columns, natural)
    with console.capture() as captured:
        console.print(teacher)
        console.print(gpu)
        for name, source in cost["sources"].items():
            console.print(f"{name}: {source}", highlight=False, soft_wrap=True)
        for warning in cost["warnings"]:
            console.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    return captured.get()


def _table(title: str | None, columns: list[str], rows: list[list[str]]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def _as_row(total: dict) -> dict:
    """The totals in an iteration row's shape."""
    teacher = {key: total[key] for key in ("requests", "input_tokens", "output_tokens", "usd", "usd_max")}
    train = {key: total[f"train_{key}"] for key in ("sequences", "tokens", "gpu_hours", "wall_hours")}
    return {
        "samples": total["samples"],
        "teacher": teacher,
        "train": {"records": None, **train},
        "evaluate": {"items": total["eval_items"], "gpu_hours": total["eval_gpu_hours"]},
    }


def _cells(row: dict) -> list[str]:
    teacher, train, evaluate = row["teacher"], row["train"] or {}, row["evaluate"] or {}
    if row.get("shared_with_base_run"):
        return [str(row["iteration"]), "base_run", *[""] * 9]
    hours = train.get("gpu_hours")
    return [
        str(row["iteration"]),
        _count(row["samples"]),
        _count(teacher["requests"]),
        f"{_millions(teacher['input_tokens'])} / {_millions(teacher['output_tokens'])}",
        f"{teacher['usd']:.2f} ({teacher['usd_max']:.2f})",
        _count(train.get("records")),
        _count(train.get("sequences")),
        _millions(train.get("tokens")),
        "" if not train else "n/a" if hours is None else f"{hours:.2f} ({train['wall_hours']:.2f})",
        _count(evaluate.get("items")),
        "" if not evaluate else "n/a" if evaluate["gpu_hours"] is None else f"{evaluate['gpu_hours']:.2f}",
    ]


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _millions(value: float | None) -> str:
    return "" if value is None else f"{value / 1e6:,.2f}M"

"""Two runs side by side (`dataengine compare A B`), from their folders alone: the knobs whose resolved
values differ, the test accuracy per type and iteration of each with the change from A to B paired on
the items both scored (McNemar's exact test, dataengine/report/paired.py), what each iteration cost
(the teacher's USD, the jobs' hours) and the samples each type received. One self-contained page
(images inlined, no script) and a text table. Types are matched by name: those of one run only are
named, not compared.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from dataengine.core.config import knob_params, run_config, runtime_keys, strip_volatile
from dataengine.core.jsonl import read_json, read_jsonl
from dataengine.core.layout import RunLayout
from dataengine.core.qtypes import TypeTable, run_types
from dataengine.report import paired
from dataengine.report.figures import CHANCE, plot_type_panels
from dataengine.report.page import STYLE, acc_cell, change_cell, data_uri
from dataengine.report.run import read_timings
from dataengine.report.summary import by_type_name, test_split

# Keys that name a run rather than decide its results: its name, and the run whose benchmark, pool and
# iteration 0 it shares (which must then agree on the knobs deciding them: core/config.py check_base_run).
NAMING_KEYS = ("run", "base_run")
# The jobs that run on a GPU node on a cluster (profiles/slurm): the torch steps of an iteration.
TORCH_STAGES = ("train", "evaluate", "base_model")
# Beside the run page's style: grouped column heads centred, the wide tables scrolled rather than wrapped,
# the iterations' tables side by side as far as the page is wide.
STYLE_MORE = (
    "th[colspan]{text-align:center} .wide{overflow-x:auto} .wide td{white-space:nowrap} "
    ".tables{display:flex;flex-wrap:wrap;gap:0 28px}"
)


class _Unset:
    def __repr__(self) -> str:
        return "(not set)"


UNSET = _Unset()  # a key one run's config does not have (written by another version of the schema)


@dataclass
class RunSide:
    """One run as the comparison reads it; lists are per iteration 0..last evaluated."""

    name: str
    config: dict
    types: TypeTable
    tests: list[dict]  # metrics.json's test split: {"overall": entry, "per_type": {type name: entry}}
    predictions: list[pl.DataFrame | None]  # the test split's verdicts: id, qtype, answer, correct
    samples: list[dict[str, int]]  # accepted samples trained into that iteration's model, per type name
    teacher_usd: list[float | None]  # what the teacher cost for those samples (generation.json)
    hours: list[dict[str, float] | None]  # wall hours of the iteration's jobs: {"torch", "other"}

    @property
    def last(self) -> int:
        return len(self.tests) - 1


@dataclass
class Comparison:
    a: RunSide
    b: RunSide
    config: list[tuple[str, Any, Any]]  # (dotted key, A's value, B's value) of each knob that differs
    types: list[str]  # the types both runs have, in A's order
    only: tuple[list[str], list[str]]  # the types only A has, and only B
    paired: list[dict | None]  # per iteration both evaluated: B minus A on the shared items (paired.changes)
    final: dict | None  # B's last iteration minus A's last, on the shared items


def compare(folder_a: Path, folder_b: Path) -> Comparison:
    """Compare the runs in two folders (plain runs: each holds its config.yaml); B minus A."""
    a, b = load_side(Path(folder_a)), load_side(Path(folder_b))
    names_b = set(b.types.names.values())
    types = [name for name in a.types.names.values() if name in names_b]
    only = tuple([name for name in side.types.names.values() if name not in types] for side in (a, b))
    by_iteration = [paired_changes(a, i, b, i, types) for i in range(min(a.last, b.last) + 1)]
    final = by_iteration[-1] if a.last == b.last else paired_changes(a, a.last, b, b.last, types)
    return Comparison(a, b, config_difference(a.config, b.config), types, only, by_iteration, final)


def load_side(folder: Path) -> RunSide:
    """A run's config, and per evaluated iteration its test accuracies, verdicts, samples and costs."""
    config = run_config(folder)
    types = run_types(config)
    layout = RunLayout.of(folder, config.get("base_run"))
    evaluated = [i for i in range(config["iterations"] + 1) if Path(layout.metrics(i)).is_file()]
    if evaluated[:1] != [0]:
        raise ValueError(f"{folder}: no evaluation of iteration 0 yet ({layout.metrics(0)})")
    last = next((i - 1 for i, j in enumerate(evaluated) if i != j), evaluated[-1])
    tests, predictions, samples, usd = [], [], [], []
    for i in range(last + 1):
        test = test_split(read_json(layout.metrics(i)), i)
        tests.append({"overall": test["overall"], "per_type": by_type_name(test["per_type"], types)})
        path = Path(layout.predictions(i))
        columns = ["id", "qtype", "split", "answer", "correct"]
        predictions.append(
            pl.read_parquet(path, columns=columns).filter(pl.col("split") == "test") if path.is_file() else None
        )
        accepted = Path(layout.accepted(i))
        samples.append(
            dict(Counter(types.name(s["qtype"]) for s in read_jsonl(accepted))) if accepted.is_file() else {}
        )
        generation = Path(layout.generation(i))
        usd.append(float(read_json(generation)["cost_usd"]) if generation.is_file() else None)
    return RunSide(config["run"], config, types, tests, predictions, samples, usd, job_hours(layout, last))


def job_hours(layout: RunLayout, last: int) -> list[dict[str, float] | None]:
    """Per iteration, the wall hours of its jobs from Snakemake's benchmark files: the torch steps
    (training, evaluation, the base model: a GPU's time on a cluster) and the others; iteration 0 also
    has the seed set, not the benchmark and pool built once. None where no job left a file."""
    hours: list[dict[str, float] | None] = [None] * (last + 1)
    for folder, iterations in ((layout.base, {0}), (layout.arm, set(range(1, last + 1)))):
        for timing in read_timings(Path(folder) / "benchmarks"):
            stage, _, suffix = timing["job"].rpartition("_")
            if not suffix.isdigit():
                stage, suffix = timing["job"], "0" if timing["job"] in ("seed_set", "base_model") else ""
            if not suffix or int(suffix) not in iterations:
                continue
            entry = hours[int(suffix)] = hours[int(suffix)] or {"torch": 0.0, "other": 0.0}
            entry["torch" if stage.startswith(TORCH_STAGES) else "other"] += timing["seconds"] / 3600
    return hours


def config_difference(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """The knobs (dotted keys) whose resolved values differ between two runs' configs, sorted, as
    (key, A's value, B's value), UNSET where one has no such key. Left out: what names a run
    (NAMING_KEYS) and what changes how a job runs, not what it produces: the keys strip_volatile drops
    and any the schema marks `x-runtime` (a teacher's concurrency or timeouts)."""
    knobs_a, knobs_b = _knobs(a), _knobs(b)
    return [
        (key, knobs_a.get(key, UNSET), knobs_b.get(key, UNSET))
        for key in sorted(set(knobs_a) | set(knobs_b))
        if knobs_a.get(key, UNSET) != knobs_b.get(key, UNSET)
    ]


def _knobs(config: dict) -> dict[str, Any]:
    """A resolved config as {dotted key: value}, each per-iteration override a knob of its own
    (per_iteration.2.sampling.budget)."""
    kept = {key: value for key, value in strip_volatile(config).items() if key not in NAMING_KEYS}
    overrides = kept.pop("per_iteration", None) or {}
    knobs = {key: value for key, value in knob_params(kept, "config").values() if not _runtime(key)}
    for iteration, override in overrides.items():
        knobs |= {
            f"per_iteration.{iteration}.{key}": value
            for key, value in knob_params(override, "override").values()
            if not _runtime(key)
        }
    return knobs


def _runtime(key: str) -> bool:
    """Whether the schema marks the dotted key, or a section holding it, `x-runtime`."""
    parts = key.split(".")
    for depth, part in enumerate(parts):
        try:
            if part in runtime_keys(".".join(parts[:depth]) or None):
                return True
        except KeyError:  # a free-form mapping or a shared definition: nothing below is marked
            return False
    return False


def paired_changes(a: RunSide, i: int, b: RunSide, j: int, types: list[str]) -> dict | None:
    """B's iteration j minus A's iteration i, overall and per type of `types` (names), paired on the
    test items both scored: the same id, type and answer (paired.changes). None without predictions."""
    frames = [_by_name(side.predictions[k], side.types, types) for side, k in ((a, i), (b, j))]
    if any(frame is None for frame in frames):
        return None
    shared = frames[0].join(frames[1], on=["id", "qtype", "answer"], how="semi").select("id")
    before, after = (frame.join(shared, on="id", how="semi") for frame in frames)
    return paired.changes(before, after, TypeTable(dict(enumerate(types, start=1))))


def _by_name(frame: pl.DataFrame | None, table: TypeTable, types: list[str]) -> pl.DataFrame | None:
    """The verdicts of the types `types`, each item's qtype its type's position in `types` (from 1), so
    that two runs numbering their types differently are paired by name."""
    if frame is None:
        return None
    position = {qtype: types.index(name) + 1 for qtype, name in table.names.items() if name in types}
    return frame.filter(pl.col("qtype").is_in(list(position))).with_columns(
        pl.col("qtype").replace_strict(position, return_dtype=pl.Int64)
    )


# --- text ---------------------------------------------------------------------------------------


def render_text(comparison: Comparison) -> str:
    """The comparison as a text table: the config difference, the final accuracies with the paired
    change, and the cost per iteration."""
    a, b = comparison.a, comparison.b
    lines = [f"A: {a.name} ({a.last} iterations)   B: {b.name} ({b.last} iterations)", ""]
    lines += _config_lines(comparison)
    lines += ["", *_types_lines(comparison), ""]
    lines.append(
        f"Final test accuracy (%): A's iteration {a.last}, B's iteration {b.last}; "
        "B - A paired on the items both scored (McNemar's exact p)"
    )
    rows = [["type", "A", "B", "B - A"]]
    final = comparison.final or {"overall": None, "per_type": {}}
    for name in [*comparison.types, None]:
        entry_a, entry_b = (_entry(side.tests[side.last], name) for side in (a, b))
        change = final["overall"] if name is None else final["per_type"].get(name)
        rows.append(
            [name or "overall", _acc(entry_a), _acc(entry_b), paired.describe(change) if change else "no predictions"]
        )
    lines += _columns(rows)
    lines += ["", "Cost per iteration: the teacher's USD for the samples trained into it; the jobs' wall hours"]
    rows = [["iteration", "A USD", "B USD", "A hours", "B hours"]]
    for i in range(max(a.last, b.last) + 1):
        rows.append([str(i), *(_usd(side, i) for side in (a, b)), *(_hours(side, i) for side in (a, b))])
    rows.append(["all", *(f"{sum(u for u in side.teacher_usd if u):.4f}" for side in (a, b)), "", ""])
    lines += _columns(rows)
    return "\n".join(lines) + "\n"


def _config_lines(comparison: Comparison) -> list[str]:
    if not comparison.config:
        return ["Config: the same in every knob that decides results"]
    count = len(comparison.config)
    lines = [f"Config: {count} knob{'s differ' if count > 1 else ' differs'} (A -> B)"]
    return lines + [
        "  " + line for line in _columns([[key, _shown(x), "->", _shown(y)] for key, x, y in comparison.config])
    ]


def _types_lines(comparison: Comparison) -> list[str]:
    lines = [f"Types compared: {', '.join(comparison.types) or 'none'}"]
    named = zip((comparison.a.name, comparison.b.name), comparison.only)
    return lines + [f"Only in {name}: {', '.join(only)}" for name, only in named if only]


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _entry(test: dict, name: str | None) -> dict | None:
    return test["overall"] if name is None else test["per_type"].get(name)


def _acc(entry: dict | None) -> str:
    return "-" if entry is None else f"{entry['acc']:.1f} (n {entry['n']})"


def _usd(side: RunSide, i: int) -> str:
    return f"{side.teacher_usd[i]:.4f}" if i <= side.last and side.teacher_usd[i] is not None else "-"


def _hours(side: RunSide, i: int) -> str:
    hours = side.hours[i] if i <= side.last else None
    return "-" if hours is None else f"{hours['torch'] + hours['other']:.3f}"


def _shown(value: Any) -> str:
    """A config value as a person reads it: strings bare, the rest as JSON."""
    if value is UNSET or isinstance(value, str):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- the page -----------------------------------------------------------------------------------


def write_page(comparison: Comparison, path: Path) -> None:
    """The comparison as one self-contained HTML page at `path`."""
    a, b = comparison.a, comparison.b
    labels = (a.name, b.name) if a.name != b.name else (f"{a.name} (A)", f"{b.name} (B)")
    with tempfile.TemporaryDirectory(prefix="dataengine-compare-") as scratch:
        figure = Path(scratch) / "types.png"
        if comparison.types:
            plot_type_panels(
                {label: [t["per_type"] for t in side.tests] for label, side in zip(labels, (a, b))},
                {label: side.samples for label, side in zip(labels, (a, b))},
                comparison.types,
                figure,
            )
        image = data_uri(figure.read_bytes(), "image/png") if comparison.types else None
    title = f"{escape(a.name)} and {escape(b.name)}"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Compare {title}</title>'
        f"<style>{STYLE}{STYLE_MORE}</style></head><body>",
        f"<header><h1>Compare {title}</h1>A: {escape(a.name)}, {a.last} iterations; "
        f"B: {escape(b.name)}, {b.last} iterations</header><main>",
        _config_section(comparison),
        _accuracy_section(comparison, image),
        _cost_section(comparison),
        _samples_section(comparison),
        "</main></body></html>",
    ]
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")


def _config_section(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    started = [
        f"<p>{escape(side.name)} started from the benchmark, pool and iteration 0 of "
        f"{escape(side.config['base_run'])} (base_run).</p>"
        for side in (a, b)
        if side.config.get("base_run")
    ]
    if comparison.config:
        rows = "".join(
            f"<tr><td>{escape(key)}</td><td>{escape(_shown(x))}</td><td>{escape(_shown(y))}</td></tr>"
            for key, x, y in comparison.config
        )
        table = (
            f'<table class="config-diff"><tr><th>knob</th><th>A: {escape(a.name)}</th><th>B: {escape(b.name)}</th>'
            f"</tr>{rows}</table>"
        )
    else:
        table = '<p class="config-same">The resolved configs agree on every knob that decides results.</p>'
    return (
        '<section id="config"><h2>What differs</h2><p>The runs\' resolved configs (config.yaml), knob by knob; '
        "left out: the run's name, base_run, and the knobs that change how a job runs, not what it makes "
        f"(threads, a teacher's concurrency and timeouts).</p>{table}{''.join(started)}"
        f"<p>{_types_html(comparison)}</p></section>"
    )


def _types_html(comparison: Comparison) -> str:
    named = zip((comparison.a.name, comparison.b.name), comparison.only)
    only = [f"only in {escape(name)}: {escape(', '.join(names))}" for name, names in named if names]
    shared = escape(", ".join(comparison.types)) or "none"
    return f"Types compared, by name: {shared}" + (f"; {'; '.join(only)}." if only else ".")


def _accuracy_section(comparison: Comparison, image: str | None) -> str:
    a, b = comparison.a, comparison.b
    listed = ", ".join(comparison.types)
    figure = (
        f'<figure><img class="types" alt="Test accuracy and samples received per type, one panel each: '
        f'{escape(listed)}" style="max-width:100%" src="{image}"><figcaption class="panels">One panel per type: '
        f"{escape(listed)}. Lines: test accuracy with its 95 % interval per iteration, A and B; bars: the samples "
        f"the type received; dashed: chance ({CHANCE:.0f} %).</figcaption></figure>"
        if image
        else "<p>The runs share no type: nothing to plot.</p>"
    )
    per_iteration = [
        _side_by_side(comparison, [(i, i, change)], "iteration") for i, change in enumerate(comparison.paired)
    ]
    return (
        '<section id="accuracy"><h2>Accuracy per type</h2>'
        f"<p>Test-split accuracy (%) with Wilson's 95 % interval. B &minus; A is paired on the test items both runs "
        f"scored (the same id, type and answer; n: how many), McNemar's exact test, p &lt; {paired.SIGNIFICANT} "
        "coloured, rises and falls alike.</p>"
        f"{figure}<h3>The last iterations: A's {a.last}, B's {b.last}</h3>"
        f"{_side_by_side(comparison, [(a.last, b.last, comparison.final)], 'final')}"
        f'<h3>Iteration by iteration</h3><div class="tables">{"".join(per_iteration)}</div></section>'
    )


def _side_by_side(comparison: Comparison, columns: list[tuple[int, int, dict | None]], kind: str) -> str:
    """Per type and overall: A's accuracy, B's, and the paired change, for each (A's iteration, B's
    iteration, change) of `columns`."""
    a, b = comparison.a, comparison.b
    head = "".join(f'<th colspan="3">{f"iteration {i}" if i == j else f"A {i}, B {j}"}</th>' for i, j, _ in columns)
    sub = "<th>A</th><th>B</th><th>B &minus; A</th>" * len(columns)
    rows = []
    for name in [*comparison.types, None]:
        cells = "".join(
            acc_cell(_entry(a.tests[i], name))
            + acc_cell(_entry(b.tests[j], name))
            + (
                change_cell(
                    None if change is None else (change["overall"] if name is None else change["per_type"].get(name))
                )
            )
            for i, j, change in columns
        )
        rows.append(f"<tr><td>{'<b>overall</b>' if name is None else escape(name)}</td>{cells}</tr>")
    table = f'<table class="{kind}"><tr><th rowspan="2">type</th>{head}</tr><tr>{sub}</tr>{"".join(rows)}</table>'
    return f'<div class="wide">{table}</div>'


def _cost_section(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    rows = "".join(
        f"<tr><td>{i}</td><td>{_usd(a, i)}</td><td>{_usd(b, i)}</td>"
        + "".join(f"<td>{_split_hours(side, i)}</td>" for side in (a, b))
        + "</tr>"
        for i in range(max(a.last, b.last) + 1)
    )
    totals = "".join(f"<td>{sum(u for u in side.teacher_usd if u):.4f}</td>" for side in (a, b))
    return (
        '<section id="cost"><h2>Cost</h2><p>Per iteration: the teacher\'s USD for the samples trained into its '
        "model (generation.json; iteration 0: the seed set), and the wall hours of its jobs (Snakemake's "
        "benchmark files), the torch steps (training and evaluation, a GPU's time on a cluster) + the rest.</p>"
        f'<table class="cost"><tr><th>iteration</th><th>A USD</th><th>B USD</th><th>A hours</th><th>B hours</th>'
        f"</tr>{rows}<tr><td><b>all</b></td>{totals}<td></td><td></td></tr></table></section>"
    )


def _split_hours(side: RunSide, i: int) -> str:
    hours = side.hours[i] if i <= side.last else None
    return "&ndash;" if hours is None else f"{hours['torch']:.3f} + {hours['other']:.3f}"


def _samples_section(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    last = max(a.last, b.last)
    head = "".join(f'<th colspan="2">iteration {i}</th>' for i in range(last + 1))
    sub = "<th>A</th><th>B</th>" * (last + 1)
    names = [*comparison.types, *comparison.only[0], *comparison.only[1]]
    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(
            f"<td>{side.samples[i].get(name, 0) if i <= side.last else '&ndash;'}</td>"
            for i in range(last + 1)
            for side in (a, b)
        )
        + "</tr>"
        for name in names
    )
    return (
        '<section id="samples"><h2>Samples per type</h2><p>Accepted samples trained into each iteration\'s '
        f'model (iteration 0: the seed set, where there is one).</p><div class="wide"><table class="samples"><tr><th rowspan="2">'
        f"type</th>{head}</tr><tr>{sub}</tr>{rows}</table></div></section>"
    )

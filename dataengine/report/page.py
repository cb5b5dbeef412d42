"""index.html: the story of a run on one self-contained page (images inlined, no script: it opens from
disk, in Snakemake's report, or as a mail attachment). First what the loop did: test accuracy with its
intervals, the model the run recommends, the significant changes (paired on the items), where the budget went, what the teacher cost, how long each step took. Then
each iteration as it happened: the dev accuracies and weights that gave the quotas, bad cases beside
the samples the teacher made for them (image, anchor, question, options, free answer, verdict), the
rejections by reason with examples, the training loss, and the evaluation."""

from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

from dataengine.core.formats import LETTERS
from dataengine.core.qtypes import TypeTable
from dataengine.report import paired, plans, rejections, value
from dataengine.report.best import REASON
from dataengine.report.figures import CHANCE, loss_svg
from dataengine.report.run import Iteration, Run
from dataengine.report.summary import by_type_name, test_split

THUMBNAIL = 112  # pixels, the longer side of an image shown
STORIES_PER_ITERATION = 4  # types whose bad cases and samples are shown
SAMPLES_PER_STORY = 3
EXAMPLES_PER_REASON = 4  # shown for each reason: one open, the others folded

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:14px 24px} nav.contents{padding:8px 24px;background:#e8ebf0} main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:4px 18px 14px;margin:16px 0;box-shadow:0 1px 3px #0002}
table{border-collapse:collapse;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #e3e6ea;text-align:right}
td:first-child,th:first-child{text-align:left} .ci{color:#778;font-size:12px}
.fall{color:#a3191b;font-weight:600} .rise{color:#1a6b2a;font-weight:600} .cards{display:flex;flex-wrap:wrap;gap:12px}
.card{width:250px;border:1px solid #e3e6ea;border-radius:6px;padding:8px;font-size:13px}
.card img{width:112px;image-rendering:pixelated;float:right;margin:0 0 4px 6px;border:1px solid #ccd}
.bad-case{background:#fff5f5}
.tag{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;background:#e5e8ee}
.accepted{color:#0a6b2b;font-weight:600} .rejected{color:#a3191b;font-weight:600}
li.answer{font-weight:600;color:#0a6b2b} li.predicted{text-decoration:line-through;color:#a3191b}
.story{border-left:3px solid #d7dce3;padding-left:12px;margin:10px 0}
pre{white-space:pre-wrap;font-size:12px;background:#f0f2f5;padding:6px}
.banner{background:#fff4d6;border:1px solid #e0b100;border-radius:6px;padding:6px 12px;margin:8px 0}
.detail{font-size:12px;color:#5a4a00;background:#fff8e6;padding:2px 4px;margin:4px 0}
"""


def write_page(
    run: Run, figure: Path, path: Path, config_text: str = "", panels: Path | None = None, best: dict | None = None
) -> None:
    """Write the run's page to `path`; `figure` is accuracy.png, `config_text` the resolved config,
    `panels` types.png (figures.plot_run_types), shown under accuracy.png; `best` the recommended model
    (summary.json's `best`), named in the overview."""
    images = _Images(run)
    flat = plans.plateaus(
        [None, *(by_type_name(it.plan["quotas"], run.types) for it in run.iterations[1:])],
        [it.changes for it in run.iterations],
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Run {_e(run.name)}</title>'
        f"<style>{STYLE}</style></head><body>",
        f"<header><h1>Run {_e(run.name)}</h1>config {_e(run.config_hash)}, "
        f"{len(run.iterations) - 1} iterations</header>{_contents(run)}<main>",
        _overview(run, figure, config_text, panels, best),
        *(
            _iteration(run, it, run.iterations[it.number - 1] if it.number else None, images, flat.get(it.number, []))
            for it in run.iterations
        ),
        "</main></body></html>",
    ]
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")


def _contents(run: Run) -> str:
    """The table of contents: the overview, then each iteration."""
    links = ['<a href="#overview">What the loop did</a>'] + [
        f'<a href="#iteration-{it.number}">Iteration {it.number}</a>' for it in run.iterations
    ]
    return f'<nav class="contents">{" &middot; ".join(links)}</nav>'


def _overview(run: Run, figure: Path, config_text: str, panels: Path | None = None, best: dict | None = None) -> str:
    tests = [test_split(it.metrics, it.number) for it in run.iterations]
    significant = [
        (it.number, name, entry)
        for it in run.iterations
        if it.changes
        for name, entry in [*it.changes["per_type"].items(), ("overall", it.changes["overall"])]
        if entry["p"] < paired.SIGNIFICANT
    ]
    change_list = "".join(
        f'<li class="{"rise" if entry["points"] > 0 else "fall"}">{_e(name)}: {_e(paired.describe(entry))} '
        f'from iteration {number - 1} to <a href="#iteration-{number}">{number}</a></li>'
        for number, name, entry in significant
    )
    parts = [
        '<section id="overview"><h2>What the loop did</h2>',
        f"<p>Test-split accuracy (%) with Wilson's 95 % interval; chance is {CHANCE:.0f} %.</p>",
        _accuracy_table(tests, [it.number for it in run.iterations], run.types),
        *_circular(tests, [it.number for it in run.iterations], run.types),
        _best(best),
        f"<p>Changes between iterations, paired on the test items each iteration scores again (McNemar's "
        f"exact test; n: the items; p &lt; {paired.SIGNIFICANT}, rises and falls alike):</p>"
        f'<ul class="changes">{change_list}</ul>'
        if significant
        else f"<p>No change between iterations is significant (paired on the test items, p &lt; {paired.SIGNIFICANT}).</p>",
        f'<img class="accuracy" alt="accuracy per type and where the budget went" style="max-width:100%" '
        f'src="{data_uri(figure.read_bytes(), "image/png")}">',
        _panels(panels),
        _teacher_table(run),
        _value_table(run),
        _timing_table(run),
    ]
    if config_text:
        parts.append(f"<details><summary>The run's config (resolved)</summary><pre>{_e(config_text)}</pre></details>")
    return "\n".join(parts) + "</section>"


def _best(best: dict | None) -> str:
    """The recommended model, on one line (nothing where the run has none)."""
    if not best:
        return ""
    i = best["iteration"]
    return (
        f'<p class="best"><strong>Recommended model</strong>: iteration <a href="#iteration-{i}">{i}</a> '
        f"(<code>{_e(best['model'])}</code>), dev {best['dev_overall']:.1f} %, test {best['test_overall']:.1f} %: "
        f"{_e(REASON)}.</p>"
    )


def _panels(panels: Path | None) -> str:
    """types.png: a small panel per type, its accuracy and the samples it received."""
    if panels is None:
        return ""
    return (
        "<h3>Per type</h3><p>Each type's test accuracy per iteration with its 95 % interval (left axis), the "
        "samples it received in that iteration (bars, right axis) and chance (dashed); the same scales in every "
        'panel.</p><img class="types" alt="accuracy and samples received, a panel per type" style="max-width:100%" '
        f'src="{data_uri(panels.read_bytes(), "image/png")}">'
    )


def _circular(tests: list[dict], numbers: list[int], types: TypeTable) -> list[str]:
    """MMBench's CircularEval beside plain accuracy, where the benchmark has circular copies."""
    if "circular" not in tests[-1]:
        return []
    return [
        f"<h3>CircularEval: {tests[-1]['circular']['overall']['n']} questions, each right only when every rotation "
        "of its options is</h3>",
        _accuracy_table([t["circular"] for t in tests], numbers, types),
    ]


def _accuracy_table(blocks: list[dict], numbers: list[int], types: TypeTable) -> str:
    qtypes = sorted({int(t) for block in blocks for t in block["per_type"]})
    head = "".join(f"<th>iter {n}</th>" for n in numbers)
    rows = []
    for qtype in [*qtypes, None]:
        cells = []
        for block in blocks:
            entry = block["overall"] if qtype is None else block["per_type"].get(str(qtype))
            cells.append(acc_cell(entry))
        name = "<b>overall</b>" if qtype is None else _e(types.name(qtype))
        rows.append(f"<tr><td>{name}</td>{''.join(cells)}</tr>")
    return f'<table class="accuracy"><tr><th>type</th>{head}</tr>{"".join(rows)}</table>'


def acc_cell(entry: dict | None) -> str:
    """A table cell: an accuracy with its 95 % interval (a metrics.json entry), or a dash."""
    if entry is None:
        return "<td>&ndash;</td>"
    return f'<td>{entry["acc"]:.1f} <span class="ci">{entry["ci_low"]:.0f}&ndash;{entry["ci_high"]:.0f}</span></td>'


def _teacher_table(run: Run) -> str:
    rows = [
        f"<tr><td>{'seed set' if it.number == 0 else it.number}</td><td>{_e(str(g.get('model', g['teacher'])))}</td>"
        f"<td>{g['calls']}</td><td>{g.get('prompt_tokens', 0) + g.get('completion_tokens', 0)}</td>"
        f"<td>{g['cost_usd']:.4f}</td></tr>"
        for it in run.iterations
        if (g := it.generation)
    ]
    total = sum(it.generation["cost_usd"] for it in run.iterations if it.generation)
    return (
        f'<h3>The teacher: {total:.4f} USD in all</h3><table class="teacher"><tr><th>step</th><th>teacher</th>'
        f"<th>calls</th><th>tokens</th><th>USD</th></tr>{''.join(rows)}</table>"
    )


def _value_table(run: Run) -> str:
    """Per type and iteration, the teacher USD (and GPU hours) per point of paired test accuracy gained."""
    values = {
        it.number: value.round_value(
            it.changes, it.generation["cost_usd"], it.accepted, run.types, value.training_gpu_hours(it.train_log)
        )
        for it in run.iterations[1:]
        if it.changes and it.generation
    }
    if not values:
        return ""
    names = sorted({name for v in values.values() for name in v["per_type"]})
    rows = "".join(
        f"<tr><td>{'<b>overall</b>' if name is None else _e(name)}</td>"
        + "".join(
            f"<td>{_e(value.per_point_text(v['overall'] if name is None else v['per_type'].get(name)))}</td>"
            for v in values.values()
        )
        + "</tr>"
        for name in [*names, None]
    )
    head = "".join(f"<th>iteration {i}</th>" for i in values)
    return (
        "<h3>What a point cost</h3><p>Each round's teacher USD per point of test accuracy it gained (the paired "
        "change from the iteration before), and its training's GPU hours where it ran on GPUs; a type's share "
        f'of the spend is its share of the round\'s accepted samples.</p><table class="value"><tr><th>type</th>{head}'
        f"</tr>{rows}</table>"
    )


def _timing_table(run: Run) -> str:
    if not run.timings:
        return ""
    by_stage: dict[str, list[float]] = defaultdict(list)
    for timing in run.timings:
        stage = timing["job"].rstrip("0123456789").rstrip("_")
        by_stage[stage].append(timing["seconds"])
    rows = "".join(
        f"<tr><td>{_e(stage)}</td><td>{len(times)}</td><td>{sum(times):.0f}</td></tr>"
        for stage, times in sorted(by_stage.items(), key=lambda kv: -sum(kv[1]))
    )
    return (
        "<h3>Time per stage (Snakemake's benchmark files)</h3>"
        f'<table class="timing"><tr><th>stage</th><th>jobs</th><th>seconds</th></tr>{rows}</table>'
    )


def _iteration(run: Run, it: Iteration, previous: Iteration | None, images: _Images, plateau: list[str]) -> str:
    title = f"Iteration {it.number}" if it.number else "Iteration 0: the base model"
    parts = [f'<section class="iteration" id="iteration-{it.number}"><h2>{title}</h2>']
    if it.plan is not None and previous is not None:
        parts.append(_plan(it, previous, plateau, run.types))
        parts.append(_stories(it, previous, images, run.types))
    elif it.queries:
        counts = Counter(int(q["qtype"]) for q in it.queries)
        listed = ", ".join(f"{run.types.name(t)} {n}" for t, n in sorted(counts.items()))
        parts.append(
            f"<p>The seed set: {len(it.accepted)} accepted of {len(it.queries)} queries ({_e(listed)}), "
            "deliberately imbalanced so that some types start weak.</p>"
        )
    if it.queries:
        parts.append(_rejections(it, images, run.types))
    parts.append(_training(it))
    parts.append(_evaluation(it, previous, run.types))
    return "\n".join(parts) + "</section>"


def _plan(it: Iteration, previous: Iteration, plateau: list[str], types: TypeTable) -> str:
    plan = it.plan
    dev = previous.metrics.get("splits", {}).get("dev", {}).get("per_type", {})
    rows = "".join(
        f"<tr><td>{_e(row['type'])}</td><td>{_acc(row['dev'])}</td>"
        + "".join(f"<td>{_e(cell)}</td>" for cell in plans.terms_text(row["terms"]))
        + f"<td>{row['weight']:.3f}</td><td>{row['share']:.2f}</td><td>{row['quota']}</td><td>{row['accepted']}</td></tr>"
        for row in plans.plan_rows(plan, dev, it.accepted, types)
    )
    note = (
        f'<p class="fall">Plateau: {_e(", ".join(plateau))} got data in this round and the one before '
        "without a significant rise.</p>"
        if plateau
        else ""
    )
    return (
        f"<h3>The plan ({_e(plan['strategy'])}, {plan['budget']} samples) "
        f"from iteration {previous.number}'s dev split</h3><p>{_e(plans.RULES[plan['strategy']])}</p>"
        '<table class="plan"><tr><th>type</th><th>dev accuracy</th><th>error rate</th><th>gain per 1,000</th>'
        f"<th>learnability</th><th>weight</th><th>share</th><th>quota</th><th>accepted</th></tr>{rows}</table>{note}"
    )


def _acc(entry: dict | None) -> str:
    return "&ndash;" if entry is None else f'{entry["acc"]:.1f} <span class="ci">n {entry["n"]}</span>'


def _stories(it: Iteration, previous: Iteration, images: _Images, types: TypeTable) -> str:
    """For the types that got most data: a bad case the teacher was shown, and samples made with it."""
    verdicts = {s["query_id"]: ("accepted", s) for s in it.accepted}
    verdicts |= {r["query_id"]: (r["reason"], r) for r in it.rejected}
    predicted = {(b["image"], b["question"]): b.get("prediction") for b in previous.bad_cases}
    by_type: dict[int, list[dict]] = defaultdict(list)
    for query in it.queries:
        by_type[int(query["qtype"])].append(query)
    top = sorted(by_type, key=lambda t: -len(by_type[t]))[:STORIES_PER_ITERATION]
    parts = ["<h3>Bad cases and the samples made for them</h3>"]
    for qtype in top:
        queries = [q for q in by_type[qtype] if q.get("in_context")]
        if not queries:
            parts.append(f"<p>{_e(types.name(qtype))}: no bad case of this type on the dev split; random images.</p>")
            continue
        case = queries[0]["in_context"][0]
        made = [q for q in queries if q["in_context"] and q["in_context"][0] == case][:SAMPLES_PER_STORY]
        cards = [_bad_case_card(case, predicted.get((case["image"], case["question"])), images)]
        cards += [_sample_card(q, *verdicts.get(q["query_id"], ("no reply", {})), images) for q in made]
        parts.append(
            f'<div class="story"><h4>{_e(types.name(qtype))}</h4><div class="cards">{"".join(cards)}</div></div>'
        )
    return "\n".join(parts)


def _bad_case_card(case: dict, prediction: str | None, images: _Images) -> str:
    options = "".join(
        f'<li class="{_option_class(letter, case["answer"], prediction)}">{_e(option)}</li>'
        for letter, option in zip(LETTERS, case["options"])
    )
    return (
        f'<div class="card bad-case">{images.tag(case["image"], benchmark=True)}<span class="tag">bad case</span>'
        f'<p>{_e(case["question"])}</p><ol type="A">{options}</ol></div>'
    )


def _sample_card(query: dict, verdict: str, record: dict, images: _Images) -> str:
    anchor = f'<span class="tag">{_e(query.get("anchor", "random"))} image</span>'
    if verdict == "accepted":
        options = "".join(
            f'<li class="{"answer" if letter == record["choice_answer"] else ""}">{_e(option)}</li>'
            for letter, option in zip(LETTERS, record["options"])
        )
        body = (
            f'<p>{_e(record["instruction"])}</p><ol type="A">{options}</ol><p>{_e(record["answer"])}</p>'
            '<p class="accepted">accepted</p>'
        )
    else:
        content = str(record.get("content", ""))[:300]
        body = f'<pre>{_e(content)}</pre><p class="rejected">rejected: <span class="reason">{_e(verdict)}</span></p>'
        body += f'<p class="detail">{_e(record["detail"])}</p>' if record.get("detail") else ""
    return f'<div class="card sample">{images.tag(query["image"])}{anchor}{body}</div>'


def _rejections(it: Iteration, images: _Images, types: TypeTable) -> str:
    """Counts by reason and type with what each reason means; one example per reason with its image and
    what exactly was wrong, the others folded away; a banner where the teacher's server injected faults."""
    injected = rejections.injected_faults(it.generation)
    banner = (
        f'<p class="banner"><b>Injected faults.</b> The teacher was the local test server (tools/fake_openai), '
        f"which its replies say injected faults on purpose: {_e(injected)}. Replies rejected below for those "
        "faults are the server's doing, not a teacher's (a <code>&lt;script&gt;</code> in a reply is an injected "
        "markup fault): validation is shown catching them.</p>"
        if injected
        else ""
    )
    if not it.rejected:
        return f"<h3>Validation</h3>{banner}<p>All {len(it.accepted)} replies accepted.</p>"
    table = rejections.by_reason_and_type(it.rejected, it.queries, types)
    names = sorted({name for counts in table.values() for name in counts})
    head = "".join(f"<th>{_e(name)}</th>" for name in names)
    rows = "".join(
        f'<tr><td><span class="reason">{_e(reason)}</span></td><td>{_e(rejections.meaning(reason))}</td>'
        + "".join(f"<td>{counts[name] or ''}</td>" for name in names)
        + f"<td>{sum(counts.values())}</td></tr>"
        for reason, counts in table.items()
    )
    queries = {query["query_id"]: query for query in it.queries}
    examples = []
    for reason in table:
        records = [record for record in it.rejected if record["reason"] == reason]
        first, rest = records[0], records[1:EXAMPLES_PER_REASON]
        query = queries.get(first["query_id"])
        image = images.tag(query["image"]) if query and query.get("image") else ""
        folded = "".join(_rejected_text(r) for r in rest)
        more = f"<details><summary>{len(rest)} more</summary>{folded}</details>" if rest else ""
        examples.append(
            f'<div class="card"><span class="reason">{_e(reason)}</span>{image}{_rejected_text(first)}{more}</div>'
        )
    return (
        f"<h3>Validation: {len(it.accepted)} accepted, {len(it.rejected)} rejected</h3>{banner}"
        f'<table class="rejections"><tr><th>reason</th><th>meaning</th>{head}<th>all</th></tr>{rows}</table>'
        f'<details><summary>An example of each reason</summary><div class="cards">{"".join(examples)}</div></details>'
    )


def _rejected_text(record: dict) -> str:
    """A rejected reply: what exactly was wrong (rejected.jsonl's detail), then the start of its text."""
    detail = f'<p class="detail">{_e(record["detail"])}</p>' if record.get("detail") else ""
    text = str(record.get("content") or "")[:300]
    return f"{detail}<pre>{_e(text) if text.strip() else '(no text)'}</pre>"


def _training(it: Iteration) -> str:
    log = it.train_log
    if not log:
        return "<h3>Training</h3><p>No training (a model from disk).</p>"
    stages = {name: stage for name, stage in log.items() if isinstance(stage, dict) and "loss" in stage} or {"": log}
    parts = ["<h3>Training</h3>"]
    if "new_samples" in log:
        parts.append(
            f"<p>{log['new_samples']} new and {log['replay_samples']} replayed samples, {log['records']} sequences"
            + (f", {log['steps']} steps of {log['batch_size']} in {log['seconds']:.0f} s" if "steps" in log else "")
            + ".</p>"
        )
    for name, stage in stages.items():
        points = [(row["step"], row["loss"]) for row in stage.get("loss", [])]
        parts.append(f"<div>{loss_svg(points, label=f'{name} loss'.strip())}</div>")
    return "\n".join(parts)


def _evaluation(it: Iteration, previous: Iteration | None, types: TypeTable) -> str:
    test = test_split(it.metrics, it.number)
    changes = it.changes or {"per_type": {}, "overall": None}
    rows = [
        f"<tr><td>{_e(name)}</td>{acc_cell(entry)}{change_cell(changes['per_type'].get(name))}</tr>"
        for name, entry in by_type_name(test["per_type"], types).items()
    ]
    rows.append(f"<tr><td><b>overall</b></td>{acc_cell(test['overall'])}{change_cell(changes['overall'])}</tr>")
    head = "" if previous is None else f" from iteration {previous.number}, paired on the items"
    return (
        f'<h3>Evaluation on the test split</h3><table class="evaluation"><tr><th>type</th><th>accuracy</th>'
        f"<th>change{head}</th></tr>{''.join(rows)}</table>"
    )


def change_cell(entry: dict | None) -> str:
    """A table cell: a paired change {points, n, p}, coloured when significant, rises and falls alike."""
    if entry is None:
        return "<td></td>"
    significant = entry["p"] < paired.SIGNIFICANT
    kind = f' class="{"rise" if entry["points"] > 0 else "fall"}"' if significant else ""
    return f"<td{kind}>{_e(paired.describe(entry))}</td>"


class _Images:
    """Thumbnails of the run's images as data URIs, each made once."""

    def __init__(self, run: Run):
        self.run, self.cache = run, {}

    def tag(self, image: str, benchmark: bool = False) -> str:
        path = (self.run.benchmark_dir if benchmark else self.run.pool_dir) / image
        if path not in self.cache:
            try:
                with Image.open(path) as picture:
                    thumb = picture.convert("RGB")
                    thumb.thumbnail((THUMBNAIL, THUMBNAIL))
                    buffer = io.BytesIO()
                    thumb.save(buffer, format="PNG")
                self.cache[path] = data_uri(buffer.getvalue(), "image/png")
            except OSError:
                self.cache[path] = None
        uri = self.cache[path]
        return f'<img alt="{_e(image)}" src="{uri}">' if uri else f"<p>(image {_e(image)} is missing)</p>"


def data_uri(data: bytes, kind: str) -> str:
    """`data` inlined, for a page that opens from disk alone."""
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _e(text: str) -> str:
    return html.escape(str(text))


def _option_class(letter: str, answer: str, prediction: str | None) -> str:
    """How an option of a bad case shows: the answer, the model's wrong prediction, or neither."""
    return "answer" if letter == answer else "predicted" if letter == prediction else ""

"""`dataengine status`: where a run stands, from its files alone (no Snakemake needed, any time, from
any machine sharing the folder): the steps of every iteration done, running or to do, what the
teacher has cost so far, the last evaluation's accuracies and, once the report is made, the model the
run recommends.

A step is done when its output exists; running when its output is missing and its log was written
to lately (jobs log their progress at least every RUNNING_S seconds); the log's last line says how far
it has got.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dataengine.core.config import run_config
from dataengine.core.jsonl import read_json
from dataengine.core.layout import RunLayout
from dataengine.core.qtypes import TypeTable, run_types
from dataengine.endpoint.ledger import Ledger, ledger_path
from dataengine.report.best import sentence
from dataengine.teacher.llm.settings import cache_path

RUNNING_S = 300  # a log untouched for longer belongs to a job that is no longer running


@dataclass(frozen=True)
class Step:
    name: str  # the rule
    iteration: int | None
    output: Path
    log: Path

    def state(self, now: float) -> str:
        if self.output.exists():
            return "done"
        if self.log.exists() and now - self.log.stat().st_mtime < RUNNING_S:
            return "running"
        return "to do"


def steps(run_dir: Path, config: dict) -> list[Step]:
    """The run's steps in the order they run (a plain run; an experiment's arms are runs of their own)."""
    layout = RunLayout.of(run_dir, config.get("base_run"))

    def step(name: str, iteration: int | None, output: str, job: str, at: str = "arm") -> Step:
        return Step(name, iteration, Path(output), Path(layout.log(job, at)))

    plan = []
    if config["student"]["base"] == "tiny":
        plan += [
            step("seed_set", 0, layout.accepted(0), "seed_set", "base"),
            step("base_model", 0, layout.model(0), "base_model", "base"),
        ]
    plan.append(step("evaluate_base", 0, layout.metrics(0), "evaluate_0", "base"))
    for i in range(1, config["iterations"] + 1):
        plan += [
            step("plan", i, layout.queries(i), f"plan_{i}"),
            step("generate", i, layout.responses(i), f"generate_{i}"),
            step("validate", i, layout.accepted(i), f"validate_{i}"),
            step("train", i, layout.model(i), f"train_{i}"),
            step("evaluate", i, layout.metrics(i), f"evaluate_{i}"),
        ]
    return [*plan, step("report", None, f"{layout.report}/summary.json", "report")]


def status(run_dir: Path | str, now: float | None = None) -> str:
    """The status of the run in `run_dir` as text for a person."""
    run_dir, now = Path(run_dir), time.time() if now is None else now
    config = run_config(run_dir)
    lines = [f"run {config['run']} ({config['iterations']} iterations, config {run_dir / 'config.yaml'})"]
    evaluated = None
    for step in steps(run_dir, config):
        state = step.state(now)
        where = "" if step.iteration is None else f" {step.iteration}"
        line = f"  {state:7}  {step.name}{where}"
        if state == "running":
            line += f"  ({_last_line(step.log)})"
        lines.append(line)
        if state == "done" and step.name in ("evaluate_base", "evaluate"):
            evaluated = step
    cache = Path(cache_path(config["teacher"], str(run_dir)))
    paid = Ledger(ledger_path(cache), None).paid_under(str(run_dir)) if ledger_path(cache).exists() else None
    if paid:
        lines.append(
            f"teacher: {paid['replies']} replies paid, {paid['prompt_tokens'] + paid['completion_tokens']} "
            f"tokens, {paid['cost_usd']:.4f} USD so far"
        )
    if evaluated is not None:
        lines.append(_accuracies(evaluated, run_types(config)))
    report = Path(RunLayout.of(run_dir, config.get("base_run")).report)
    return "\n".join(lines + _recommended(report / "summary.json"))


def _recommended(summary: Path) -> list[str]:
    """The line naming the recommended model, from the report's summary.json (none before the report)."""
    best = read_json(summary).get("best") if summary.is_file() else None
    return [sentence(best).replace("Recommended model", "recommended model", 1)] if best else []


def _last_line(log: Path) -> str:
    """The last non-empty line of a log (a progress bar redraws with carriage returns)."""
    text = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "started")[:160]


def _accuracies(step: Step, types: TypeTable) -> str:
    test = read_json(step.output)["splits"]["test"]
    per_type = ", ".join(
        f"{types.name(t)} {e['acc']:.1f}" for t, e in sorted(test["per_type"].items(), key=lambda kv: int(kv[0]))
    )
    return (
        f"last evaluation (iteration {step.iteration}, test split): {test['overall']['acc']:.1f} % overall; {per_type}"
    )

"""Where a run's files are: the one place that spells the layout (docs/contracts.md describes the files
themselves). The rules, `dataengine status` and the tests' loop harness ask it; the report gets its
paths from the report rule.

    <shared>/benchmark/, pool/             built once; another run's with `base_run`
    <base>/iter_0/                         the seed set, the start model and its evaluation
    <arm>/iter_<i>/plan, data, model, eval  iteration i >= 1
    <arm>/report/, logs/, benchmarks/      the run's report, job logs, per-job time and memory

A plain run is one folder (results/<run>: shared = base = arm). A run started from another (`base_run`)
shares that run's benchmark, pool and iteration 0. In an experiment, each seed has its base
(results/<run>/seed_<s>) and each arm its folder under it. The folders may hold Snakemake wildcards
({seed}, {strategy}), and an iteration may be given as "{i}": the paths are then patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    arm: str
    base: str
    shared: str

    @classmethod
    def of(cls, run_dir: str | Path, base_run: str | None = None) -> RunLayout:
        """A plain run's layout: `run_dir` (results/<run>), sharing `base_run`'s folder when set."""
        run_dir = str(run_dir)
        shared = str(Path(run_dir).parent / base_run) if base_run else run_dir
        return cls(arm=run_dir, base=shared, shared=shared)

    def filled(self, **wildcards: str) -> RunLayout:
        """The layout of one experiment arm: {seed} and {strategy} filled in."""
        return RunLayout(*(part.format(**wildcards) for part in (self.arm, self.base, self.shared)))

    # --- built once -------------------------------------------------------------------------------

    @property
    def benchmark(self) -> str:
        return f"{self.shared}/benchmark"

    @property
    def pool(self) -> str:
        return f"{self.shared}/pool"

    def report_benchmark(self, name: str) -> str:
        return f"{self.shared}/report_benchmarks/{name}"

    def source_manifest(self, stage: str) -> str:
        """The list of a stage's source files with their sizes and times (dataengine.data.sources)."""
        return f"{self.shared}/sources/{stage}.tsv"

    @property
    def assembled_model(self) -> str:
        """LLaVA's released parts put together (student.base: assembled)."""
        return f"{self.shared}/assembled_model"

    @property
    def base_data(self) -> str:
        """The checked base data of the from_start regime (records.jsonl, stats.json)."""
        return f"{self.shared}/base_data"

    @property
    def start_model(self) -> str:
        """The tiny student the from_start regime trains again every iteration."""
        return f"{self.base}/start_model"

    # --- per iteration ----------------------------------------------------------------------------

    def iteration(self, i: int | str) -> str:
        """Iteration i's folder; iteration 0 (seed set, start model, first evaluation) is the base's."""
        return f"{self.base}/iter_0" if str(i) == "0" else f"{self.arm}/iter_{i}"

    def evaluation(self, i: int | str, benchmark: str | None = None) -> str:
        """The folder of iteration i's evaluation on the benchmark, or on a report benchmark."""
        return f"{self.iteration(i)}/eval" + (f"_{benchmark}" if benchmark else "")

    def metrics(self, i: int | str, benchmark: str | None = None) -> str:
        return f"{self.evaluation(i, benchmark)}/metrics.json"

    def predictions(self, i: int | str, benchmark: str | None = None) -> str:
        return f"{self.evaluation(i, benchmark)}/predictions.parquet"

    def bad_cases(self, i: int | str, benchmark: str | None = None) -> str:
        return f"{self.evaluation(i, benchmark)}/bad_cases.jsonl"

    def plan(self, i: int | str) -> str:
        """Iteration i's plan (i >= 1), made from iteration i-1's evaluation."""
        return f"{self.arm}/iter_{i}/plan"

    def quotas(self, i: int | str) -> str:
        return f"{self.plan(i)}/quotas.json"

    def queries(self, i: int | str) -> str:
        """The teacher's queries of iteration i: its plan's, or iteration 0's seed set's."""
        return f"{self.data(0)}/queries.jsonl" if str(i) == "0" else f"{self.plan(i)}/queries.jsonl"

    def data(self, i: int | str) -> str:
        return f"{self.iteration(i)}/data"

    def responses(self, i: int | str) -> str:
        return f"{self.data(i)}/responses.jsonl"

    def generation(self, i: int | str) -> str:
        return f"{self.data(i)}/generation.json"

    def accepted(self, i: int | str) -> str:
        return f"{self.data(i)}/accepted.jsonl"

    def rejected(self, i: int | str) -> str:
        return f"{self.data(i)}/rejected.jsonl"

    def model(self, i: int | str) -> str:
        return f"{self.iteration(i)}/model"

    # --- the run ----------------------------------------------------------------------------------

    @property
    def report(self) -> str:
        return f"{self.arm}/report"

    @property
    def config(self) -> str:
        """The run's config, resolved (every default filled in), written when the workflow starts."""
        return f"{self.arm}/config.yaml"

    def log(self, job: str, at: str = "arm") -> str:
        """A job's log, in the folder of what it makes: the arm's, the base's (iteration 0) or the
        shared one's (benchmark, pool)."""
        return f"{getattr(self, at)}/logs/{job}.log"

    def timing(self, job: str, at: str = "arm") -> str:
        """A job's time and memory record (Snakemake's `benchmark:` file), beside its log."""
        return f"{getattr(self, at)}/benchmarks/{job}.tsv"

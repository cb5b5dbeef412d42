# Paths, per-iteration knobs and input functions: the one place the file layout is spelled out
# (docs/contracts.md describes the files themselves).
import os
import sys

# Jobs import the library from this checkout, also inside --sdm conda envs and on SLURM nodes
# (jobs inherit the environment). Set here, not required of the user, hence no `envvars:`.
sys.path.insert(0, workflow.basedir)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
    )
)

from dataengine.data import paths as run_paths
from dataengine.core.layout import RunLayout
from dataengine.core.config import (
    check_base_run,
    deep_merge,
    knob_params,
    knobs,
    save_resolved,
    strip_volatile,
    validate_config,
    variant_knobs,
    without_runtime,
)
from dataengine.report.summary import config_hash
from dataengine.sampling.plan import STRATEGIES, plan_knobs
from dataengine.data.sources import require_present, write_manifest
from dataengine.core.qtypes import run_types
from dataengine.teacher import taught_types
from dataengine.teacher.llm.prompts import PROMPT_FILES
from dataengine.endpoint.client import result_knobs
from dataengine.teacher.llm.settings import cache_path, resolve_prompts

_validated = validate_config(
    config, source="config (config/config.yaml + --configfile/--config)"
)
config.clear()
config.update(_validated)

RUN = f"results/{config['run']}"
# The benchmark, the pool and iteration 0 come from another run with `base_run` (same settings).
SHARED = f"results/{config['base_run']}" if config["base_run"] else RUN
LAST = config["iterations"]
TINY = config["student"]["base"] == "tiny"
ASSEMBLED = config["student"]["base"] == "assembled"
# The paper's v2 regime: every iteration trains the start model again on base data + engine data.
FROM_START = config["train"]["regime"] == "from_start"
BASE_DATA = config["train"]["base_data"] or {}
# CPUs of a torch step: its torch threads and the loader workers that read its images.
TORCH_CPUS = config["threads"] + config["loader_workers"]
# The teacher's runtime knobs (concurrency, rate limits, ...) do not change results, nor the hash.
RESULT_CONFIG = strip_volatile({**config, "teacher": result_knobs(config["teacher"])})
TEACHER_CACHE = cache_path(config["teacher"], RUN)
# The seed set is iteration 0's, which a run started from another (base_run) shares, cache included.
SEED_SET_CACHE = cache_path(config["teacher"], SHARED)
CONTAMINATION = {
    **config["contamination"],
    "benchmark_kind": config["benchmark"]["kind"],
}
# What the benchmark and the pool are read from: (config key, path) of each file and folder, and the
# model folders and base data (dataengine.data.paths). Every one must exist; all missing ones are
# named at once. Report benchmarks: every model is also evaluated on them and reported, never sampled from.
REPORT_BENCHMARKS = config["report_benchmarks"]
SOURCES = run_paths.source_paths(config)
require_present(run_paths.config_paths(config))
if config["base_run"]:
    check_base_run(config, SHARED, seed_teacher=result_knobs if TINY else None)
# The types each iteration's teacher writes for (its prompt file's, or the oracle's SEED types); the
# others are measured and planned nothing.
TYPES = run_types(config)
TAUGHT = {i: taught_types(knobs(config, "teacher", i), config) for i in range(LAST + 1)}


def check_taught():
    """Stop a run whose teacher writes for none of its types; name those it leaves out (dry run too)."""
    for i, taught in TAUGHT.items():
        kind = knobs(config, "teacher", i)["kind"]
        if not taught:
            raise ValueError(
                f"iteration {i}: the teacher ({kind}) writes for none of the run's types ({TYPES.listing()}); "
                "give it a prompt file that defines some (teacher.prompts, `dataengine prompt init`; "
                "the oracle writes SEED-Bench's types only)"
            )
        untaught = [TYPES.name(t) for t in TYPES.ids if t not in taught]
        if untaught and workflow.is_main_process:
            print(
                f"iteration {i}: measured but given no data (no teacher prompt): {', '.join(untaught)}",
                file=sys.stderr,
            )


check_taught()
# The run's own config, resolved (defaults filled in), once it checked out: for people, for
# `dataengine status` and for runs started from this one (base_run).
if workflow.is_main_process:
    save_resolved(RunLayout.of(RUN).config, config)
# An experiment runs one arm per (seed, sampling strategy or variant), every arm of a seed starting
# from that seed's base model (iteration 0 lives in BASE); a plain run is a single arm, BASE = ARM = RUN.
# The benchmark and the pool are shared by all arms. The {strategy} wildcard names the arm: a
# strategy, or a variant (its sampling knobs over the config's).
EXPERIMENT = config["experiment"]
BASE = f"{SHARED}/seed_{{seed}}" if EXPERIMENT else SHARED
ARM = f"{BASE}/{{strategy}}" if EXPERIMENT else RUN
# Where every file of the run is (dataengine.core.layout), its folders holding the arm's wildcards.
LAYOUT = RunLayout(arm=ARM, base=BASE, shared=SHARED)
VARIANTS = EXPERIMENT["variants"] if EXPERIMENT else {}
# The built tiny student: iteration 0's model, or in the from_start regime the start of every
# iteration's training (iteration 0 is then the start trained on the base data alone).
TINY_MODEL = LAYOUT.start_model if FROM_START else LAYOUT.model(0)
ASSEMBLED_MODEL = LAYOUT.assembled_model
BASE_DATA_RECORDS = [f"{LAYOUT.base_data}/records.jsonl"] if FROM_START else []


wildcard_constraints:
    i=r"0|[1-9]\d*",
    seed=r"\d+",
    strategy="|".join([*STRATEGIES, *VARIANTS]),
    bench="|".join(REPORT_BENCHMARKS) or "(?!)",  # (?!) matches nothing


def source_paths(name):
    """The files and folders the `name` stage (benchmark, pool) reads."""
    return [path for _, path in SOURCES[name]]


def source_manifest(name):
    """The manifest of a stage's sources (every file with its size and mtime, dataengine.data.sources):
    written here when a source changed, even to an older copy, so the rule reading them and what
    follows rerun. Jobs started on cluster nodes use the one the main process wrote."""
    if not SOURCES[name]:
        return []
    manifest = LAYOUT.source_manifest(name)
    if workflow.is_main_process:
        write_manifest(manifest, source_paths(name))
    return [manifest]


def report_benchmark_sources(wildcards):
    return source_paths(f"report_benchmark_{wildcards.bench}")


def report_benchmark_manifest(wildcards):
    return source_manifest(f"report_benchmark_{wildcards.bench}")


def reported_metrics(wildcards):
    """Every report benchmark's metrics.json of every iteration, benchmark by benchmark."""
    return [
        arm_layout(wildcards).metrics(i, name)
        for name in REPORT_BENCHMARKS
        for i in range(LAST + 1)
    ]


def fill(template, wildcards):
    """A path template with the experiment's {seed} and {strategy} taken from a job's wildcards."""
    return template.format(**dict(wildcards.items()))


def arm_layout(wildcards):
    """The layout of a job's arm: the experiment's {seed} and {strategy} filled in."""
    return LAYOUT.filled(**dict(wildcards.items()))


def start_model(wildcards):
    """The model the loop starts from: the built tiny student, the assembled one or the configured
    folder as is."""
    if TINY:
        return fill(TINY_MODEL, wildcards)
    return ASSEMBLED_MODEL if ASSEMBLED else config["student"]["base"]


def model_dir(wildcards, i):
    """Iteration i's model; iteration 0's is the start model, except from_start, which trains it."""
    if int(i) == 0 and not FROM_START:
        return start_model(wildcards)
    return arm_layout(wildcards).model(i)


def arm_name(wildcards):
    return fill(ARM, wildcards).removeprefix("results/")


def experiment_arms():
    """(seed, strategy or variant) of every arm, seeds outer; none outside an experiment."""
    if not EXPERIMENT:
        return []
    return [
        {"seed": seed, "strategy": strategy}
        for seed in EXPERIMENT["seeds"]
        for strategy in [*EXPERIMENT["strategies"], *VARIANTS]
    ]


def arm_sampling(sampling, arm, iteration):
    """The sampling knobs of an arm's plan for `iteration`: a strategy's name sets the strategy, a
    variant its knobs (from its from_iteration on)."""
    if arm in VARIANTS:
        return variant_knobs(sampling, VARIANTS[arm], iteration)
    return {**sampling, "strategy": arm}


def arm_config_hash(wildcards):
    """The report's config hash: an arm's is that of the plain run it amounts to (its seed and
    sampling knobs in place of the experiment block, a variant's from_iteration on as per-iteration
    overrides), so adding arms leaves finished reports alone.
    """
    arm = {**RESULT_CONFIG, "experiment": None}
    if EXPERIMENT:
        arm["seed"] = run_seed(wildcards)
        arm["sampling"] = arm_sampling(arm["sampling"], wildcards.strategy, 1)
        variant = VARIANTS.get(wildcards.strategy, {})
        start = variant.get("from_iteration", 1)
        if start > 1:
            later = {"sampling": variant_knobs({}, variant, start)}
            arm["per_iteration"] = arm["per_iteration"] | {
                str(i): deep_merge(arm["per_iteration"].get(str(i), {}), later)
                for i in range(start, config["iterations"] + 1)
            }
    arm["sampling"] = plan_knobs(arm["sampling"])
    return config_hash(arm)


def run_seed(wildcards):
    """The seed of a job's arm: an experiment's seeds differ in initial weights and data."""
    return int(wildcards.seed) if EXPERIMENT else config["seed"]


# ---- input functions (wildcards -> files of the previous iteration) ----


def model_to_evaluate(wildcards):
    return model_dir(wildcards, wildcards.get("i", 0))


def previous_model(wildcards):
    """What iteration i's training starts from: the previous model, or from_start the start model."""
    if FROM_START:
        return start_model(wildcards)
    return model_dir(wildcards, int(wildcards.i) - 1)


def evaluation(name):
    """An evaluation file of the iteration a plan is made from: the one before the plan's."""
    return (
        lambda wildcards: f"{arm_layout(wildcards).evaluation(int(wildcards.i) - 1)}/{name}"
    )


def earlier_metrics(wildcards):
    """The evaluations before the one a plan is made from (the gain rule's history)."""
    return [arm_layout(wildcards).metrics(j) for j in range(int(wildcards.i) - 1)]


def earlier_quotas(wildcards):
    """The quotas of the plans before this one, made from those evaluations."""
    return [arm_layout(wildcards).quotas(j) for j in range(1, int(wildcards.i))]


def plan_queries(wildcards):
    """The queries of the plan of iteration i's data: what generate and validate work through."""
    return arm_layout(wildcards).queries(wildcards.i)


def earlier_queries(wildcards):
    """Queries of every earlier plan and the tiny student's seed set: their images are not used again."""
    return [
        arm_layout(wildcards).queries(j)
        for j in range(0 if TINY else 1, int(wildcards.i))
    ]


def replay_sources(wildcards):
    """Accepted samples of every earlier iteration (iteration 0 holds the tiny student's seed set; a
    real base model has none). from_start trains on all of them, the seed set aside: the start model
    learnt it already."""
    first = 0 if TINY and not FROM_START else 1
    return [arm_layout(wildcards).accepted(j) for j in range(first, int(wildcards.i))]


# Iterations with teacher data: the tiny student's seed set is iteration 0's.
DATA_ITERATIONS = range(0 if TINY else 1, LAST + 1)


def run_models(wildcards):
    """Every iteration's model folder (its train_log.json tells the report about the training)."""
    return [model_dir(wildcards, i) for i in range(LAST + 1)]


def timing_folders(wildcards):
    """Where Snakemake's benchmark files of an arm's jobs are: its own, and its base's."""
    layout = arm_layout(wildcards)
    return sorted({f"{layout.base}/benchmarks", f"{layout.arm}/benchmarks"})


def run_files(kind, iterations):
    """One file of a kind (a RunLayout method's name) per iteration of an arm, for the report."""
    return lambda wildcards: [
        getattr(arm_layout(wildcards), kind)(i) for i in iterations
    ]


# ---- params functions: the knobs of the iteration a job produces ----


def section_params(name, section, per_job=None):
    """A config section as one param per knob (dataengine.core.config.knob_params), so that the dry run
    names the knobs that changed; scripts get the section back with knobs_from_params. `per_job`
    (wildcards -> section) gives a job its own values (per-iteration overrides) of those knobs.
    """
    params = knob_params(section, name)
    if per_job is None:
        return params
    return {
        param: (
            lambda wildcards, param=param: knob_params(per_job(wildcards), name)[param]
        )
        for param in params
    }


def sampling_knobs(wildcards):
    """The sampling knobs of iteration i's plan; an experiment's arm sets its own. A type the teacher
    writes no data for is excluded, as if the user had."""
    i = int(wildcards.i)
    sampling = knobs(config, "sampling", i)
    sampling = arm_sampling(sampling, wildcards.strategy, i) if EXPERIMENT else sampling
    untaught = set(TYPES.ids) - set(TAUGHT[i])
    if untaught:
        sampling = {**sampling, "exclude": sorted(set(sampling["exclude"]) | untaught)}
    return plan_knobs(sampling)


def teacher_knobs(wildcards):
    """The teacher knobs that decide the replies; the runtime ones (concurrency, rate limits, retries,
    prices) are read by the job from the config, so changing them reruns nothing."""
    return result_knobs(knobs(config, "teacher", int(wildcards.i)))


def teacher_prompts(wildcards):
    """The openai teacher's prompt files: editing one reruns generation and what follows."""
    teacher = knobs(config, "teacher", int(wildcards.i))
    if teacher["kind"] != "openai":
        return []
    return [str(resolve_prompts(teacher["prompts"]) / name) for name in PROMPT_FILES]


def train_knobs(wildcards):
    return without_runtime(knobs(config, "train", int(wildcards.i)), "train")

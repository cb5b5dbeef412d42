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

from dataengine.config import knobs, strip_volatile, validate_config
from dataengine.report import config_hash
from dataengine.openai_teacher.prompts import PROMPT_FILES
from dataengine.openai_teacher.settings import cache_path, resolve_prompts, result_knobs

_validated = validate_config(
    config, source="config (config/config.yaml + --configfile/--config)"
)
config.clear()
config.update(_validated)

RUN = f"results/{config['run']}"
BENCHMARK = f"{RUN}/benchmark"
POOL = f"{RUN}/pool"
LAST = config["iterations"]
TINY = config["student"]["base"] == "tiny"
# The teacher's runtime knobs (concurrency, rate limits, ...) do not change results, nor the hash.
CONFIG_HASH = config_hash(
    strip_volatile({**config, "teacher": result_knobs(config["teacher"])})
)
TEACHER_CACHE = cache_path(config["teacher"], RUN)
CONTAMINATION = {
    **config["contamination"],
    "benchmark_kind": config["benchmark"]["kind"],
}


wildcard_constraints:
    i=r"0|[1-9]\d*",


def iter_dir(i):
    return f"{RUN}/iter_{i}"


def model_dir(i):
    """Iteration 0 is the built tiny student or, for a real model, the configured folder as is."""
    if int(i) == 0 and not TINY:
        return config["student"]["base"]
    return f"{iter_dir(i)}/model"


# ---- input functions (wildcards -> files of the previous iteration) ----


def model_to_evaluate(wildcards):
    return model_dir(wildcards.i)


def previous_model(wildcards):
    return model_dir(int(wildcards.i) - 1)


def previous_queries(wildcards):
    return f"{iter_dir(int(wildcards.i) - 1)}/plan/queries.jsonl"


def earlier_queries(wildcards):
    """Queries of every earlier plan and the tiny student's seed set: their images are not used again."""
    seed = [f"{iter_dir(0)}/data/queries.jsonl"] if TINY else []
    return seed + [f"{iter_dir(j)}/plan/queries.jsonl" for j in range(int(wildcards.i))]


def replay_sources(wildcards):
    """Accepted samples of every earlier iteration (iteration 0 holds the tiny student's seed set; a
    real base model has none)."""
    first = 0 if TINY else 1
    return [
        f"{iter_dir(j)}/data/accepted.jsonl" for j in range(first, int(wildcards.i))
    ]


# ---- params functions: the knobs of the iteration a job produces ----


def sampling_knobs(wildcards):
    """The plan made from iteration i's evaluation produces iteration i+1's data."""
    return knobs(config, "sampling", int(wildcards.i) + 1)


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
    return knobs(config, "train", int(wildcards.i))

"""Run configuration: resolution, JSON-Schema validation with defaults, and per-iteration knobs.

A config is resolved one way for Snakemake and for the `dataengine` command (`resolve`): the
checkout's config/config.yaml, then each `--configfile` over it, then `--config` values; and the
Snakefile, the CLI and the benchmarks all go through `validate_config`, so a config means the same
thing everywhere and a bad key stops every entry point with the same message. The schema
(dataengine/core/schemas/config.schema.yaml, shipped with the package) is the one source of every key's
default and allowed values: library code that needs a default asks `defaults`, and code that takes
knobs from elsewhere checks them with `check_section`.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dataengine.core.jsonl import atomic_writer
from dataengine.core.qtypes import SEED_TABLE, TypeTable, known_types, own_categories, run_types

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"
# The checkout's default config: the Snakefile's `configfile:`, under every --configfile.
BASE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
PER_ITERATION_SECTIONS = ("sampling", "teacher", "train")


class ConfigError(ValueError):
    """A config value or key the schema rejects; the message names the key."""


def _with_defaults(validator_class):
    """Fill schema defaults while validating, as `snakemake.utils.validate(set_default=True)` does."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


@functools.cache
def _cached_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _schema() -> dict:
    """The config schema (a copy: validation with defaults must not write into the cached one)."""
    return copy.deepcopy(_cached_schema())


@functools.cache
def _all_defaults() -> dict:
    return validate_config({}, source="the schema's defaults")


def defaults(section: str) -> dict:
    """The schema's defaults of a config section: what a config that does not mention it holds."""
    return copy.deepcopy(_all_defaults()[section])


def allowed(key: str) -> list:
    """The values the schema allows for a dotted key (its enum; a list's items' enum)."""
    schema = node = _cached_schema()
    for part in key.split("."):
        node = node["properties"][part]
        if "$ref" in node:  # a section defined once in $defs (benchmark, for report_benchmarks too)
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return list(node.get("items", node)["enum"])


def runtime_keys(section: str | None = None) -> frozenset[str]:
    """The keys of a section (a dotted path; None: the top level) the schema marks `x-runtime`: they
    change how a job runs, not what it produces, so changing one reruns nothing and the report's
    config hash leaves it out."""
    node = _cached_schema()
    for part in section.split(".") if section else []:
        node = node["properties"][part]
    return frozenset(key for key, child in node["properties"].items() if child.get("x-runtime"))


def without_runtime(values: dict, section: str) -> dict:
    """A section's knobs less those the schema marks `x-runtime`: what a job's params hold."""
    return {key: value for key, value in values.items() if key not in runtime_keys(section)}


def check_section(section: str, values: dict, source: str) -> None:
    """Check `values` (some keys of a config section, e.g. from code) against that section's schema;
    a ConfigError names each bad key."""
    schema = _schema()
    section_schema = {**schema["properties"][section], "$defs": schema.get("$defs", {})}
    _check(values, section_schema, f"{source}, config section {section!r}")


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _message(error: jsonschema.ValidationError) -> str:
    """The validator's message; a value that does not match a pattern also gets what the key must
    hold (its description), since the regular expression alone does not say it."""
    if error.validator == "pattern" and "description" in error.schema:
        return f"{error.message}. {error.schema['description']}"
    return error.message


def _check(config: dict, schema: dict, source: str) -> None:
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_key_path(e)}: {_message(e)}" for e in errors]
        raise ConfigError(f"invalid config ({source}):\n" + "\n".join(lines))


def _check_pairs(config: dict, source: str) -> None:
    """Keys that only mean something together: a start model to assemble and the base data of the
    from_start regime, each set exactly when the other key asks for it; the types sampling leaves
    out, among those measured and leaving some to sample."""
    student, train = config["student"], config["train"]
    errors = []
    excluded = config["sampling"]["exclude"]
    if not set(excluded) < set(run_types(config).ids):
        errors.append(
            f"sampling.exclude: {excluded} must be among qtypes {config['qtypes']} and leave at least one to sample"
        )
    for name, section in config["report_benchmarks"].items():
        if own_categories(section) != own_categories(config["benchmark"]):
            errors.append(
                f"report_benchmarks.{name}: is measured on the run's types, so it must name them as the "
                "benchmark does: both SEED-Bench's (a qtype_map for mmbench) or both the same categories"
            )
    if (student["base"] == "assembled") != (student["assemble"] is not None):
        errors.append("student.assemble: set it exactly when student.base is `assembled` (the model it builds)")
    if (train["regime"] == "from_start") != (train["base_data"] is not None):
        errors.append("train.base_data: set it exactly when train.regime is from_start (which trains on it)")
    if train["vision_tower"] == "lora" and train["method"] != "lora":
        errors.append(
            "train.vision_tower: lora needs train.method: lora (adapters beside a fully trained model are not offered)"
        )
    if errors:
        raise ConfigError(f"invalid config ({source}):\n" + "\n".join(f"  {line}" for line in errors))


def _resolve_types(config: dict, source: str) -> dict:
    """The config with every type given by name as its id (`qtypes` of a benchmark read as SEED's,
    `sampling.exclude` wherever it is set, the seed set's `per_type`), so later stages see ids only; a
    name that is no type, or two entries naming one type, is named with its key."""
    config = copy.deepcopy(config)
    errors = []

    def ids(key: str, values: list, table: TypeTable) -> list[int]:
        resolved = []
        for value in values:
            try:
                resolved.append(table.parse(value))
            except ValueError as err:
                errors.append(f"{key}: {err}")
        if len(set(resolved)) < len(resolved):
            errors.append(f"{key}: {values} names a type twice")
        return resolved

    if own_categories(config["benchmark"]):
        config["qtypes"] = [str(name) for name in config["qtypes"]]
    else:
        config["qtypes"] = ids("qtypes", config["qtypes"], SEED_TABLE)
    # Names resolve among every type the benchmark has; _check_pairs then holds them to qtypes.
    known = known_types(config) if not errors else SEED_TABLE
    sections = [("sampling", config["sampling"])]
    sections += [(f"per_iteration.{i}.sampling", o.get("sampling") or {}) for i, o in config["per_iteration"].items()]
    sections += [
        (f"experiment.variants.{name}", v) for name, v in ((config["experiment"] or {}).get("variants") or {}).items()
    ]
    for key, section in sections:
        if "exclude" in section:
            section["exclude"] = ids(f"{key}.exclude", section["exclude"], known)
    # The seed set may name types the run leaves out (it keeps those of qtypes); with a benchmark's own
    # categories, the default config's SEED ids mean nothing.
    seed_set = config["student"]["tiny"]["seed_set"]
    per_type = seed_set["per_type"]
    if own_categories(config["benchmark"]):
        per_type = {key: n for key, n in per_type.items() if not key.isdigit()}
    seed_set["per_type"] = dict(
        zip(map(str, ids("student.tiny.seed_set.per_type", list(per_type), known)), per_type.values())
    )
    if errors:
        raise ConfigError(f"invalid config ({source}):\n" + "\n".join(f"  {line}" for line in errors))
    return config


def _normalise_keys(config: dict) -> dict:
    """YAML reads `per_iteration: {2: ...}` with int keys; the schema (JSON) needs strings."""
    config = copy.deepcopy(config)
    if isinstance(config.get("per_iteration"), dict):
        config["per_iteration"] = {str(k): v for k, v in config["per_iteration"].items()}
    seed_set = config.get("student", {}).get("tiny", {}).get("seed_set", {})
    if isinstance(seed_set.get("per_type"), dict):
        seed_set["per_type"] = {str(k): v for k, v in seed_set["per_type"].items()}
    return config


def _coerce(value: Any, schema: dict, defs: dict) -> Any:
    """`value` with each string that the schema wants as a number, a boolean or null read as YAML:
    Snakemake passes the values nested in `--config key={...}` as strings ('500', 'true')."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict):
        return {key: _coerce(item, _property_schema(schema, str(key)), defs) for key, item in value.items()}
    if isinstance(value, list):
        return [_coerce(item, schema.get("items", {}), defs) for item in value]
    if not isinstance(value, str):
        return value
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    enum = schema.get("enum")
    if ("string" in types and not enum) or (enum and value in enum) or not (types or enum):
        return value
    for parse in (int, float, yaml.safe_load):  # float before YAML, which reads 1e-4 as a string
        try:
            parsed = parse(value)
        except (ValueError, yaml.YAMLError):
            continue
        if not isinstance(parsed, str):
            return parsed
    return value


def _property_schema(schema: dict, key: str) -> dict:
    """The schema of `key` inside an object schema (properties, then patterns, then the rest)."""
    if key in schema.get("properties", {}):
        return schema["properties"][key]
    for pattern, sub in schema.get("patternProperties", {}).items():
        if re.search(pattern, key):
            return sub
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _typed(config: dict, schema: dict) -> dict:
    """The config with command-line strings typed (_coerce); a per-iteration override is typed by the
    schema of the section it overrides."""
    defs = schema.get("$defs", {})
    config = _coerce(config, schema, defs)
    for override in (config.get("per_iteration") or {}).values():
        if isinstance(override, dict):
            for section, value in override.items():
                override[section] = _coerce(value, schema["properties"].get(section, {}), defs)
    return config


def deep_merge(base: dict, override: dict) -> dict:
    """`override` on top of `base`, recursively for nested mappings; neither is modified."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def validate_config(config: dict, source: str = "config") -> dict:
    """Return the config with defaults filled in, or raise ConfigError naming every bad key.

    Each per-iteration override and each experiment variant is checked by validating the config it
    produces, so it is held to exactly the same rules as the global value it replaces.
    """
    schema = _schema()
    config = _typed(_normalise_keys(config or {}), schema)
    _check(config, schema, source)
    config = _resolve_types(config, source)
    _check_pairs(config, source)
    beyond = sorted((k for k in config["per_iteration"] if int(k) > config["iterations"]), key=int)
    if beyond:
        raise ConfigError(
            f"invalid config ({source}):\n  per_iteration: overrides of iterations {beyond}, but the run has "
            f"{config['iterations']} (iterations), so they would never apply"
        )
    for name, variant in (config["experiment"] or {}).get("variants", {}).items():
        start = variant.get("from_iteration", 1)
        if start > config["iterations"]:
            raise ConfigError(
                f"invalid config ({source}):\n  experiment.variants.{name}.from_iteration: {start}, but the run "
                f"has {config['iterations']} (iterations), so the variant would never apply"
            )
        try:
            merged = {**config, "sampling": variant_knobs(config["sampling"], variant, start)}
            _check(merged, schema, source)
            _check_pairs(merged, source)
        except ConfigError as err:
            raise ConfigError(str(err).replace("\n  ", f"\n  experiment.variants.{name} -> ")) from None
    for iteration, override in config["per_iteration"].items():
        merged = deep_merge({k: v for k, v in config.items() if k != "per_iteration"}, override)
        merged["per_iteration"] = {}
        try:
            _check(merged, schema, source)
            _check_pairs(merged, source)
        except ConfigError as err:
            raise ConfigError(
                str(err).replace(
                    "\n  ",
                    f"\n  per_iteration.{iteration} -> ",
                )
            ) from None
    return config


def variant_knobs(sampling: dict, variant: Mapping, iteration: int) -> dict:
    """An experiment variant's sampling knobs for `iteration`: its knobs over `sampling` from its
    `from_iteration` on (1 if unset), `sampling` itself before, so that an arm can take a decision
    the loop could only take after seeing some rounds (the bound of any rule that must first look)."""
    if iteration < variant.get("from_iteration", 1):
        return copy.deepcopy(sampling)
    return deep_merge(sampling, {key: value for key, value in variant.items() if key != "from_iteration"})


def resolve(configfiles: list[str | Path] | None = None, overrides: dict | None = None) -> dict:
    """The config a run with these arguments uses, as Snakemake resolves it: config/config.yaml, each
    of `configfiles` merged over it in order, then `overrides` (--config); validated, every default
    filled in. A file that cannot be read is named."""
    merged: dict = {}
    for path in [BASE_CONFIG, *map(Path, configfiles or [])]:
        merged = deep_merge(merged, _read_mapping(path))
    source = " + ".join(["config/config.yaml", *map(str, configfiles or [])]) + (" + --config" if overrides else "")
    return validate_config(deep_merge(merged, overrides or {}), source=source)


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Read a YAML config file, apply `overrides` (same nesting) and validate it."""
    return validate_config(deep_merge(_read_mapping(Path(path)), overrides or {}), source=str(path))


def _read_mapping(path: Path) -> dict:
    """A YAML config file's mapping (an empty file is an empty one); a ConfigError names the file."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config {path} must be a mapping, not {type(loaded).__name__}")
    return loaded


def knobs(config: dict, section: str, iteration: int) -> dict:
    """The `section` knobs in force for `iteration`: the global value with that iteration's override.

    Used as a Snakemake params function, so changing the knobs of iteration j changes the params of
    iteration j's jobs only, and Snakemake reruns j and what follows, not the earlier iterations.
    """
    if section not in PER_ITERATION_SECTIONS:
        raise KeyError(f"{section!r} has no per-iteration overrides; use one of {PER_ITERATION_SECTIONS}")
    override = config.get("per_iteration", {}).get(str(iteration), {}).get(section, {})
    return deep_merge(config[section], override)


def runtime_knobs(config: dict, key: str, iteration: int | None = None) -> Any:
    """What a job reads from the config beside its params: knobs that change how it runs, not what it
    produces (loader workers, an endpoint's key variable, timeouts, rate limits), so that changing
    them reruns nothing. `key` is a dotted path (evaluate.extractor); a section with per-iteration
    overrides (teacher) is the one in force for `iteration`."""
    section, *rest = key.split(".")
    value = knobs(config, section, iteration) if section in PER_ITERATION_SECTIONS else config[section]
    for part in rest:
        value = value[part]
    return copy.deepcopy(value)


def knob_params(section: Mapping, name: str) -> dict[str, tuple[str, Any]]:
    """A config section as Snakemake params, one per knob, named `<name>__<path>`, each holding
    (dotted key, value): Snakemake's dry run then names the knobs that changed ("before:
    ('budget', 1000) now: ('budget', 500)"), not two whole dicts. `knobs_from_params` undoes it."""
    params = {}
    for path, value in _leaves(section):
        params["__".join([name, *path])] = (".".join(path), value)
    return params


def knobs_from_params(params: Mapping, name: str) -> dict:
    """The section `knob_params(section, name)` made params of, from a job's params."""
    section: dict = {}
    for param, knob in params.items():
        if param.startswith(f"{name}__"):
            key, value = knob
            *parents, leaf = key.split(".")
            node = section
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = copy.deepcopy(value)
    return section


def _leaves(mapping: Mapping, path: tuple[str, ...] = ()):
    """(path, value) of every knob: nested mappings whose keys are all identifiers (the schema's
    sections) are walked; anything else (a free-form mapping such as qtype_map) is one knob."""
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value and all(str(k).isidentifier() for k in value):
            yield from _leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


# What decides a run's benchmark, pool and iteration 0: a run started from another one's (base_run)
# must agree on these; the teacher only matters where it writes the tiny student's seed set.
BASE_RUN_KEYS = ("seed", "qtypes", "benchmark", "pool", "retrieval", "student", "evaluate", "train.views")


def save_resolved(path: str | Path, config: dict) -> None:
    """The validated config (defaults filled in) as YAML in the run folder, for people and for runs
    started from this one; rewritten only when it changes, so its time says when the config did."""
    text = yaml.safe_dump(config, sort_keys=True, allow_unicode=True)
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    with atomic_writer(path) as out:
        out.write(text)


def run_config(run_dir: Path) -> dict:
    """The resolved config of the plain run (or experiment arm) in `run_dir`, as save_resolved wrote it;
    a clear error for a folder that holds no run, or a whole experiment."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"no run at {run_dir} ({config_file} is written when the workflow starts)")
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    if config.get("experiment"):
        raise ValueError(f"{run_dir} is an experiment: name one of its arms, e.g. {run_dir}/seed_<s>/<strategy>")
    return config


def check_base_run(config: dict, base_dir: str | Path, seed_teacher: Callable[[dict], dict] | None) -> None:
    """A ConfigError unless the run `config.base_run` (its folder `base_dir`) made its benchmark, pool
    and iteration 0 with this run's settings; the error lists every knob that differs."""
    path, what = Path(base_dir) / "config.yaml", f"base_run {config['base_run']}"
    try:
        base = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what}: no {path}; run that run first (a dry run of it writes the file)") from None
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{what}: cannot read {path}: {err}") from None
    conflicts = base_run_conflicts(base, config, seed_teacher)
    if conflicts:
        raise ConfigError(
            f"{what}: its benchmark, pool or iteration 0 were made with other settings "
            "(its value -> this run's):\n  " + "\n  ".join(conflicts)
        )


def base_run_conflicts(base: dict, config: dict, seed_teacher: Callable[[dict], dict] | None) -> list[str]:
    """The knobs deciding the shared benchmark, pool and iteration 0 on which `config` and the base
    run's resolved config `base` differ, as "key: base's value -> this run's"; `seed_teacher` picks
    from a config the teacher knobs that decide its replies, when a teacher writes a seed set."""
    mine, theirs = _decisive(config, seed_teacher), _decisive(base, seed_teacher)
    return [
        f"{key}: {theirs.get(key, '<unset>')!r} -> {mine.get(key, '<unset>')!r}"
        for key in sorted(set(mine) | set(theirs))
        if mine.get(key) != theirs.get(key)
    ]


def _decisive(config: dict, seed_teacher: Callable[[dict], dict] | None) -> dict:
    picked = {}
    for key in BASE_RUN_KEYS:
        section, _, leaf = key.partition(".")
        value = config.get(section, {}).get(leaf) if leaf else config.get(section)
        picked.update({".".join(path): v for path, v in _leaves({key: value})})
    if seed_teacher is not None:
        picked.update({".".join(path): v for path, v in _leaves({"teacher": seed_teacher(config.get("teacher", {}))})})
    return picked


def strip_volatile(config: dict) -> dict[str, Any]:
    """The part of the config that determines results (for the report's config hash): the keys the
    schema marks `x-runtime` at the top level (thread and loader-worker counts, prompt optimisation's
    sessions) and in the train section (report_to) do not."""
    kept = {k: v for k, v in config.items() if k not in runtime_keys()}
    return kept | ({"train": without_runtime(kept["train"], "train")} if "train" in kept else {})

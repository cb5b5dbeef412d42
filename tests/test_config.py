"""The config schema: defaults filled, bad keys and values named, per-iteration knobs merged."""

import re

import pytest
import yaml

from dataengine.core.config import ConfigError, knobs, load_config, resolve, validate_config, variant_knobs
from tests.conftest import REPO


def test_defaults_fill_an_empty_config():
    config = validate_config({})
    assert config["run"] == "demo"
    assert config["train"]["steps"] == 300
    assert config["student"]["tiny"]["caption"]["batch_size"] == 32  # default inside a $ref'd stage


def test_default_config_file_is_valid_and_matches_schema_defaults():
    config = load_config(REPO / "config" / "config.yaml")
    assert config["iterations"] == 3 and config["benchmark"]["test_per_type"] >= 200


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"stepz": 10}}))
    with pytest.raises(ConfigError, match=r"train: Additional properties are not allowed \('stepz'"):
        load_config(path)


def test_bad_value_is_named_with_its_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("iterations: -1\nsampling: {similar_share: 2}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "iterations: -1 is less than the minimum of 0" in message
    assert "sampling.similar_share: 2 is greater than the maximum of 1" in message


def test_unreadable_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(path)


def test_experiment_variant_is_validated_like_the_sampling_it_changes():
    experiment = {"strategies": ["gain"], "seeds": [0], "variants": {"gain_random": {"similar_share": 0}}}
    assert validate_config({"experiment": experiment})["experiment"]["variants"] == {
        "gain_random": {"similar_share": 0}
    }
    experiment["variants"] = {"wide": {"similar_share": 2}}
    with pytest.raises(ConfigError, match=r"experiment.variants.wide -> sampling.similar_share: 2 is greater than"):
        validate_config({"experiment": experiment})
    experiment["variants"] = {"paper": {"similar_share": 0}}  # would share the paper arm's folder
    with pytest.raises(ConfigError, match="experiment.variants"):
        validate_config({"experiment": experiment})


def test_a_variant_from_a_later_iteration_keeps_the_config_s_knobs_before_it():
    sampling = validate_config({})["sampling"]
    variant = {"exclude": [9], "from_iteration": 2}
    assert variant_knobs(sampling, variant, 1) == sampling
    assert variant_knobs(sampling, variant, 2) == variant_knobs(sampling, variant, 3) == {**sampling, "exclude": [9]}
    experiment = {"strategies": ["gain"], "seeds": [0], "variants": {"late": {"exclude": [9], "from_iteration": 4}}}
    with pytest.raises(ConfigError, match=r"experiment.variants.late.from_iteration: 4, but the run has 3"):
        validate_config({"experiment": experiment})
    experiment["variants"]["late"]["from_iteration"] = 0
    with pytest.raises(ConfigError, match=r"from_iteration: 0 is less than the minimum of 1"):
        validate_config({"experiment": experiment})


def test_per_iteration_override_applies_to_that_iteration_only():
    config = validate_config({"sampling": {"budget": 100}, "per_iteration": {2: {"sampling": {"budget": 7}}}})
    assert knobs(config, "sampling", 1)["budget"] == 100
    assert knobs(config, "sampling", 2)["budget"] == 7
    assert knobs(config, "sampling", 2)["strategy"] == "gain"  # the rest of the section is kept
    assert knobs(config, "sampling", 3)["budget"] == 100


def test_per_iteration_override_is_validated_like_the_global_value():
    with pytest.raises(ConfigError, match=r"per_iteration.2 -> train.method: 'half' is not one of"):
        validate_config({"per_iteration": {2: {"train": {"method": "half"}}}})
    with pytest.raises(ConfigError, match="per_iteration"):
        validate_config({"per_iteration": {0: {"train": {"steps": 5}}}})  # iteration 0 has no knobs


@pytest.mark.parametrize("run", ["..", ".", ".hidden", "a/b", "../elsewhere", ""])
def test_run_names_that_would_leave_results_are_refused_with_what_a_name_may_hold(run):
    with pytest.raises(ConfigError) as err:
        validate_config({"run": run})
    assert f"run: {run!r} does not match" in str(err.value)
    assert "a folder under results/" in str(err.value) and "never '.' or '..'" in str(err.value)


@pytest.mark.parametrize("run", ["demo", "small-openai", "v1.2_b", "7b"])
def test_ordinary_run_names_pass(run):
    assert validate_config({"run": run})["run"] == run


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"train": {"regime": "from_start"}}, "train.base_data: set it exactly when"),
        ({"train": {"base_data": {"path": "d.json", "image_dir": "img"}}}, "train.base_data: set it exactly when"),
        ({"student": {"base": "assembled"}}, "student.assemble: set it exactly when"),
        (
            {"student": {"assemble": {"language_model": "l", "vision_tower": "v", "projector": "p.bin"}}},
            "student.assemble: set it exactly when",
        ),
        ({"per_iteration": {1: {"train": {"regime": "from_start"}}}}, "per_iteration.1 -> train.base_data"),
        ({"qtypes": [1, 2], "sampling": {"exclude": [9]}}, "sampling.exclude: [9] must be among qtypes [1, 2]"),
        ({"qtypes": [1, 2], "sampling": {"exclude": [2, 1]}}, "sampling.exclude: [2, 1] must be among"),
        (
            {"experiment": {"strategies": ["gain"], "seeds": [0], "variants": {"no_text": {"exclude": [9]}}}},
            "experiment.variants.no_text -> sampling.exclude: [9] must be among",
        ),
    ],
)
def test_keys_that_only_mean_something_together(config, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        validate_config({"iterations": 2, **config})


def test_report_benchmarks_are_checked_like_the_benchmark():
    mmbench = {"kind": "mmbench", "path": "dev.tsv", "dev_share": 0, "qtype_map": {"image_scene": 1}}
    config = validate_config({"report_benchmarks": {"mmbench_dev": mmbench}})
    assert config["report_benchmarks"]["mmbench_dev"]["qtype_field"] == "category"  # the benchmark's defaults
    # Without a qtype_map MMBench's types are its own categories: not the run's SEED types.
    own = {k: v for k, v in mmbench.items() if k != "qtype_map"}
    with pytest.raises(ConfigError, match=r"report_benchmarks\.mmbench_dev: is measured on the run's types"):
        validate_config({"report_benchmarks": {"mmbench_dev": own}})
    with pytest.raises(ConfigError, match=r"report_benchmarks\.mm\.kind: 'mmbnch' is not one of"):
        validate_config({"report_benchmarks": {"mm": {"kind": "mmbnch"}}})
    with pytest.raises(ConfigError, match="report_benchmarks"):
        validate_config({"report_benchmarks": {"MM Bench": {"kind": "mmbench"}}})


CONFIG_FILES = sorted(path for path in (REPO / "config").rglob("*.yaml") if "prompts" not in path.parts)


def snakemake_resolution(path) -> dict:
    """What Snakemake makes of `--configfile path`: the Snakefile's config/config.yaml, updated by the
    file with Snakemake's own function, then validated as rules/common.smk does."""
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, yaml.safe_load(path.read_text()) or {})
    return validate_config(config)


def outcome(resolution):
    """The resolved config, or what is wrong with it (the message without the line naming its source:
    an overlay such as targeting-anchor.yaml is meant to stack on another and is invalid alone)."""
    try:
        return resolution()
    except ConfigError as error:
        return str(error).split("\n", 1)[1]


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda path: path.name)
def test_the_cli_and_snakemake_resolve_every_shipped_config_alike(path):
    assert outcome(lambda: resolve([path])) == outcome(lambda: snakemake_resolution(path))


def test_an_overlay_keeps_what_config_yaml_sets_unless_it_says_otherwise():
    """The divergence once measured: config/config.yaml trains on the free view; an overlay that does
    not name train.views trains on it too, in the CLI as in Snakemake."""
    targeting = resolve([REPO / "config" / "experiments" / "targeting.yaml"])
    assert targeting["train"]["views"] == ["free"] == resolve()["train"]["views"]
    with pytest.raises(ConfigError, match="cannot read config .*missing.yaml"):
        resolve([REPO / "missing.yaml"])


def test_config_show_prints_the_resolution_snakemake_runs_with(tmp_path):
    """`dataengine config show` against the config.yaml Snakemake writes into the run folder at parse."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import snakemake

    overlay = REPO / "config" / "experiments" / "targeting.yaml"
    # Snakemake reads the Snakefile's config/config.yaml relative to its working directory.
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    done = snakemake(tmp_path, "--dry-run", "--quiet", configfiles=[overlay])
    assert done.returncode == 0, done.stderr[-2000:]
    run = yaml.safe_load(overlay.read_text())["run"]
    written = yaml.safe_load((tmp_path / "results" / run / "config.yaml").read_text())
    command = [str(Path(sys.executable).parent / "dataengine"), "config", "show", "--configfile", str(overlay)]
    shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert yaml.safe_load(shown) == written

"""Experiments: the loop per (seed, sampling strategy), the arms of a seed sharing its base model,
compared in one report; finished arms are not rerun when a strategy is added."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
import yaml

from tests.conftest import CONFIGS, REPO, snakemake
from tests.test_workflow import planned_jobs

CONFIGS_USED = [CONFIGS / "small.yaml", CONFIGS / "experiment.yaml"]


def test_dry_run_plans_one_base_per_seed_and_one_loop_per_arm(workdir):
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=CONFIGS_USED))
    seeds, arms, k = 2, 4, 2
    assert jobs == {
        "build_benchmark": 1,
        "build_pool": 1,
        "embed_pool": 1,
        "seed_set": seeds,
        "base_model": seeds,
        "evaluate_base": seeds,
        "plan": arms * k,
        "generate": arms * k,
        "validate": arms * k,
        "train": arms * k,
        "evaluate": arms * k,
        "report": arms,
        "compare_strategies": 1,
        "all": 1,
    }


def test_unknown_strategy_in_an_experiment_is_named(workdir, tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"experiment": {"strategies": ["gain", "greedy"], "seeds": [0]}}))
    result = snakemake(workdir, "-n", configfiles=[*CONFIGS_USED, overlay])
    assert result.returncode != 0
    assert (
        "experiment.strategies.1: 'greedy' is not one of ['gain', 'paper', 'uniform']" in result.stderr + result.stdout
    )


def test_a_variant_runs_as_one_more_arm_per_seed(workdir, tmp_path):
    overlay = tmp_path / "variant.yaml"
    experiment = {"strategies": ["gain", "uniform"], "seeds": [0, 1], "variants": {"gain_random": {"similar_share": 0}}}
    overlay.write_text(yaml.safe_dump({"experiment": experiment}))
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[*CONFIGS_USED, overlay]))
    arms, k = 2 * 3, 2
    assert jobs["plan"] == arms * k and jobs["report"] == arms and jobs["base_model"] == 2


BENCH = REPO / "config" / "experiments"


@pytest.mark.parametrize(
    "configs, arms",
    [
        (["targeting.yaml"], ["gain", "paper", "uniform"]),
        (["targeting-small-text.yaml"], ["gain", "paper"]),
        (["targeting.yaml", "targeting-anchor.yaml"], ["gain", "paper", "uniform", "gain_random"]),
        (
            ["targeting-small-text.yaml", "targeting-small-text-bound.yaml"],
            ["gain", "paper", "gain_no_text", "gain_no_text_from_2"],
        ),
        (
            ["targeting-small-text.yaml", "targeting-small-text-redraw.yaml", "targeting-small-text-bound.yaml"],
            ["gain", "paper", "gain_no_text", "gain_no_text_from_2"],
        ),
        (
            ["targeting-small-text.yaml", "targeting-small-text-redraw-2.yaml", "targeting-small-text-bound.yaml"],
            ["gain", "paper", "gain_no_text", "gain_no_text_from_2"],
        ),
        (
            ["targeting-small-text.yaml", "targeting-small-text-knobs.yaml"],
            ["gain", "paper", "floor_0", "floor_02", "temperature_05", "smoothing_0", "min_samples_50"],
        ),
    ],
)
def test_the_targeting_bench_runs_five_seeds_of_its_arms(workdir, configs, arms):
    jobs = planned_jobs(snakemake(workdir, "-n", "--quiet", "rules", configfiles=[BENCH / c for c in configs]))
    seeds, k = 5, 3
    assert jobs["base_model"] == seeds and jobs["report"] == seeds * len(arms)
    assert jobs["train"] == jobs["plan"] == seeds * len(arms) * k


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("experiment")
    result = snakemake(workdir, "--cores", "2", configfiles=CONFIGS_USED)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def _summary(run, seed, strategy):
    return json.loads((run / f"seed_{seed}" / strategy / "report" / "summary.json").read_text())["iterations"]


@pytest.mark.slow
def test_arms_of_a_seed_share_its_base_and_seeds_differ(experiment):
    run = experiment / "results" / "exp"
    for seed in (0, 1):
        assert (run / f"seed_{seed}" / "iter_0" / "model").is_dir()
        for strategy in ("gain", "uniform"):
            arm = run / f"seed_{seed}" / strategy
            assert not (arm / "iter_0").exists() and (arm / "iter_1" / "plan" / "quotas.json").is_file()
        base = [
            {k: v for k, v in _summary(run, seed, name)[0].items() if k != "quotas"} for name in ("gain", "uniform")
        ]
        assert base[0] == base[1]  # the same base model and evaluation; the plans made from it differ
    weights = [(run / f"seed_{seed}" / "iter_0" / "model" / "model.safetensors").read_bytes() for seed in (0, 1)]
    assert weights[0] != weights[1]


@pytest.mark.slow
def test_each_arm_plans_with_its_own_strategy(experiment):
    run = experiment / "results" / "exp"
    uniform = json.loads((run / "seed_0" / "uniform" / "iter_1" / "plan" / "quotas.json").read_text())
    assert uniform["strategy"] == "uniform" and set(uniform["quotas"].values()) == {8}  # 24 over 3 types
    gain = json.loads((run / "seed_0" / "gain" / "iter_1" / "plan" / "quotas.json").read_text())
    dev = json.loads((run / "seed_0" / "iter_0" / "eval" / "metrics.json").read_text())["splits"]["dev"]["per_type"]
    # Before any round the gain rule is the paper's: the error rate.
    assert gain["weights"] == pytest.approx({t: (100 - e["acc"]) / 100 for t, e in dev.items()}, abs=1e-4)


@pytest.mark.slow
def test_comparison_reports_each_seeds_weak_types_per_strategy(experiment):
    run = experiment / "results" / "exp"
    result = json.loads((run / "report" / "experiment.json").read_text())
    assert result["seeds"] == [0, 1] and result["default"] == "gain"
    assert set(result["strategies"]) == {"gain", "uniform"}
    for strategy, entry in result["strategies"].items():
        assert len(entry["weak_acc"]) == 2 and all(len(row) == 3 for row in entry["weak_acc"])
        for seed, row in zip((0, 1), entry["weak_acc"]):
            rows = _summary(run, seed, strategy)
            weak = result["weak_types"][str(seed)]
            assert weak == [t for t, acc in rows[0]["per_type"].items() if acc < 60]
            if weak:
                assert row == pytest.approx(
                    [statistics.fmean(it["per_type"][t] for t in weak) for it in rows], abs=1e-3
                )
    for name in ("experiment.md", "experiment.png"):
        assert (run / "report" / name).stat().st_size > 0


def _rerun_of(arms: int, k: int) -> dict[str, int]:
    """The jobs that rerun `arms` arms of k iterations each, and the comparison over all arms."""
    return {
        "plan": arms * k,
        "generate": arms * k,
        "validate": arms * k,
        "train": arms * k,
        "evaluate": arms * k,
        "report": arms,
        "compare_strategies": 1,
        "all": 1,
    }


@pytest.mark.slow
def test_adding_a_strategy_runs_only_its_arms(experiment, tmp_path):
    rerun = snakemake(experiment, "-n", configfiles=CONFIGS_USED)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
    overlay = tmp_path / "three.yaml"
    overlay.write_text(yaml.safe_dump({"experiment": {"strategies": ["gain", "uniform", "paper"], "seeds": [0, 1]}}))
    jobs = planned_jobs(snakemake(experiment, "-n", "--quiet", "rules", configfiles=[*CONFIGS_USED, overlay]))
    assert jobs == _rerun_of(arms=2, k=2)  # the new strategy's arm of each seed


@pytest.mark.slow
def test_a_variant_from_iteration_2_plans_its_first_round_as_the_config(experiment, tmp_path):
    overlay = tmp_path / "late.yaml"
    variants = {"late_uniform": {"strategy": "uniform", "from_iteration": 2}}
    overlay.write_text(
        yaml.safe_dump({"experiment": {"strategies": ["gain", "uniform"], "seeds": [0, 1], "variants": variants}})
    )
    target = "results/exp/seed_0/late_uniform/iter_2/plan/quotas.json"
    result = snakemake(experiment, "--cores", "2", target, configfiles=[*CONFIGS_USED, overlay])
    assert result.returncode == 0, result.stderr[-4000:]
    seed = experiment / "results" / "exp" / "seed_0"
    for name in ("quotas.json", "queries.jsonl"):  # the first round is the config's (gain) plan, byte for byte
        assert (seed / "late_uniform" / "iter_1" / "plan" / name).read_bytes() == (
            seed / "gain" / "iter_1" / "plan" / name
        ).read_bytes()
    later = json.loads((seed / "late_uniform" / "iter_2" / "plan" / "quotas.json").read_text())
    assert later["strategy"] == "uniform" and set(later["quotas"].values()) == {8}


@pytest.mark.slow
def test_tuning_the_gain_rule_reruns_only_the_gain_arms(experiment, tmp_path):
    overlay = tmp_path / "tuned.yaml"
    overlay.write_text(yaml.safe_dump({"sampling": {"gain": {"floor": 0.3}}}))
    jobs = planned_jobs(snakemake(experiment, "-n", "--quiet", "rules", configfiles=[*CONFIGS_USED, overlay]))
    assert jobs == _rerun_of(arms=2, k=2)  # the gain arm of each seed


@pytest.mark.slow
def test_the_noise_bench_retrains_an_arm_as_the_loop_did_and_with_other_seeds(experiment, tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    import noise  # bench/ is no package

    run = experiment / "results" / "exp"
    config = yaml.safe_load((run / "config.yaml").read_text())
    stored = json.loads((run / "seed_0" / "gain" / "iter_2" / "eval" / "metrics.json").read_text())["splits"]["test"]
    qtype = min(stored["per_type"])
    again = noise.retrain(run, config, "gain", 2, seed=0, training_seed=0, weak=[qtype])  # the loop's own training seed
    assert again == {"overall": stored["overall"]["acc"], "weak_acc": stored["per_type"][qtype]["acc"]}

    out = tmp_path / "noise.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "noise.py"),
            "--run",
            str(run),
            "--iteration",
            "2",
            "--trainings",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["seeds"] == [0, 1] and result["training_seeds"] == [[0, 1000], [1, 1001]]
    assert result["acc"]["overall"][0][0] == stored["overall"]["acc"]  # the arm's own model comes first
    assert set(result["sd"]) == {"overall", "weak_acc"} and result["sd_difference"]["overall"] >= 0

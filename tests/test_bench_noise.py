"""bench/noise.py's statistics of training noise, and its refusals; its run on a real experiment is
in tests/test_strategy_experiment.py, which has one."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import noise  # noqa: E402 (bench/ is no package)


def test_spread_pools_the_within_seed_variance_and_scales_it_to_a_difference():
    result = noise.spread([[1, 3], [2, 2], [5, 7]])  # variances 2, 0 and 2
    sd = (4 / 3) ** 0.5
    assert result["sd"] == pytest.approx(sd, abs=1e-3)
    assert result["sd_difference"] == pytest.approx(2**0.5 * sd, abs=1e-3)
    assert result["half_width"] == pytest.approx(4.303 * 2**0.5 * sd / 3**0.5, abs=1e-3)  # t(0.975, 2 df)


@pytest.mark.parametrize("acc", [[[1, 2, 3]], [[1, 2], [3]]])
def test_spread_needs_two_seeds_of_two_trainings(acc):
    with pytest.raises(ValueError, match="at least two seeds of at least two trainings"):
        noise.spread(acc)


def test_the_command_names_a_folder_that_is_no_finished_run(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "noise.py"), "--run", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode != 0 and f"{tmp_path}: no config.yaml (not a finished run" in done.stderr
    (tmp_path / "config.yaml").write_text("threads: 1\n")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "noise.py"), "--run", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode != 0 and f"{tmp_path}: no seed has finished gain/iter_1" in done.stderr

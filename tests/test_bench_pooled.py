"""bench/pooled.py pools the seeds of several draws of a world before pairing, so its interval
covers draws: checked on two small records in the bench's own format."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import pooled  # noqa: E402 (bench/ is no package)


def _record(world, seeds, arms):
    """A bench world record: per arm, per seed, accuracy at iterations 0 and 1."""
    return {
        "world": world,
        "seeds": seeds,
        "default": "gain",
        "strategies": {
            name: {"overall": rows, "weak_acc": [[a - 10, b - 10] for a, b in rows]} for name, rows in arms.items()
        },
    }


FIRST = _record(
    "small_text",
    [0, 1],
    {"gain": [[50, 60], [50, 62]], "paper": [[50, 58], [50, 58]], "only_here": [[50, 70], [50, 70]]},
)
SECOND = _record("small_text", [0, 1], {"paper": [[40, 50], [40, 47]], "gain": [[40, 50], [40, 51]]})


def test_leads_pool_the_seeds_of_every_draw_and_keep_only_shared_arms():
    result = pooled.pool([FIRST, SECOND], against="paper")
    assert result["seeds"] == 4 and set(result["paired"]) == {"gain"}  # only_here is not in the second draw
    lead = result["paired"]["gain"]["overall"]
    assert [row[1] for row in lead["diff"]] == [2, 4, 0, 4]
    assert lead["mean"] == [0.0, 2.5]
    half = 3.182 * 1.914854 / 2  # t(0.975, 3 df) * sd / sqrt(4)
    assert lead["ci95"][1] == pytest.approx([2.5 - half, 2.5 + half], abs=2e-3)
    assert result["paired"]["gain"]["weak_acc"]["diff"] == lead["diff"]  # the same offset on both


def test_an_arm_missing_from_a_draw_cannot_be_the_reference():
    with pytest.raises(ValueError, match="not every record has the arm 'only_here'"):
        pooled.pool([FIRST, SECOND], against="only_here")


def test_the_command_writes_the_pooled_record_and_names_a_missing_world(tmp_path):
    files = []
    for name, record in (("a.json", FIRST), ("b.json", SECOND)):
        files.append(tmp_path / name)
        files[-1].write_text(json.dumps({"seconds": 1.0, "worlds": [record]}))
    out = tmp_path / "pooled.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pooled.py"), *map(str, files), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["paired"]["gain"]["overall"]["mean"] == [0.0, 2.5]
    missing = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pooled.py"), str(files[0]), "--world", "default"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and f"{files[0]}: no record of world 'default'" in missing.stderr


def test_the_probed_type_is_counted_per_seed_where_every_draw_probes_it():
    def probed(record, samples):
        arms = {arm: {"acc": [], "samples": [[0, 100, total] for total in totals]} for arm, totals in samples.items()}
        return {**record, "probe": {"type": "Text Understanding", "arms": arms}}

    first = probed(FIRST, {"gain": [300, 500], "paper": [600, 400], "only_here": [0, 0]})
    second = probed(SECOND, {"gain": [200, 250], "paper": [700, 650]})
    spend = pooled.pool([first, second], against="paper")["probe"]
    assert spend["type"] == "Text Understanding"
    assert spend["samples"] == {"gain": [300, 500, 200, 250], "paper": [600, 400, 700, 650]}
    assert spend["fewer"] == {"gain": 3}  # not the first draw's seed 1, where gain planned more
    assert "probe" not in pooled.pool([first, SECOND], against="paper")  # a draw without the probe

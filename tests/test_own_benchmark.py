"""A benchmark of one's own: three categories none of SEED's names, in the generic format, written
outside the project; a prompt folder for two of them (`dataengine prompt init`, then edited), and one
iteration of the offline loop with the openai teacher against the local server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dataengine.data.benchmark import build_synthetic_benchmark
from tests.conftest import CONFIGS, snakemake
from tools.fake_openai import FakeOpenAI

# Our categories, each made of one kind of the synthetic world's questions (a SEED type id).
CATEGORIES = {"Tally": 5, "Hue": 3, "Where": 4}
# What the user writes in the prompt file: the fake teacher writes the SEED type a definition names.
DEFINITIONS = {
    "Tally": "How many objects of a kind the image shows, as SEED-Bench's Instances Counting asks.",
    "Hue": "The colour of one object, as SEED-Bench's Instance Attributes asks.",
}


def write_generic_benchmark(folder: Path) -> Path:
    """A user's own multiple-choice set converted to the generic format: JSONL rows with an image path
    under the image folder, the options as a list, the answer letter and the category."""
    rendered = build_synthetic_benchmark(
        folder / "rendered", qtypes=sorted(CATEGORIES.values()), n_dev=12, n_test=12, seed=7
    )
    category_of = {qtype: name for name, qtype in CATEGORIES.items()}
    rows = [
        {
            "id": f"ours-{row['id']}",
            "image": row["image"],
            "question": row["question"],
            "options": row["options"],
            "answer": row["answer"],
            "category": category_of[row["qtype"]],
        }
        for row in rendered.iter_rows(named=True)
    ]
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.slow
def test_a_benchmark_of_ones_own_runs_an_iteration_and_teaches_only_the_types_with_a_prompt(tmp_path):
    questions = write_generic_benchmark(tmp_path / "outside")
    workdir = tmp_path / "run"
    prompts = tmp_path / "my_prompts"
    with FakeOpenAI() as server:
        overlay = tmp_path / "ours.yaml"
        overlay.write_text(
            yaml.safe_dump(
                {
                    "run": "ours",
                    "iterations": 1,
                    "qtypes": list(CATEGORIES),
                    "benchmark": {
                        "kind": "generic",
                        "path": str(questions),
                        "image_dir": str(questions.parent / "rendered"),
                        "dev_share": 0.5,
                    },
                    "student": {"tiny": {"seed_set": {"per_type": {"Tally": 30, "Hue": 30}}}},
                    "teacher": {"base_url": server.base_url, "prompts": str(prompts)},
                }
            )
        )
        configs = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay]
        init = subprocess.run(
            [str(Path(sys.executable).parent / "dataengine"), "prompt", "init", "--types", "Tally", "Hue"]
            + [arg for config in configs for arg in ("--configfile", str(config))]
            + ["--out", str(prompts)],
            capture_output=True,
            text=True,
            cwd=workdir.mkdir() or workdir,
        )
        assert init.returncode == 0, init.stderr
        types = yaml.safe_load((prompts / "types.yaml").read_text())
        assert list(types) == ["Tally", "Hue"]
        assert all(len(entry["examples"]) == 3 for entry in types.values())  # the benchmark's dev questions
        for name, definition in DEFINITIONS.items():
            types[name]["definition"] = definition
        (prompts / "types.yaml").write_text(yaml.safe_dump(types, sort_keys=False))

        dry = snakemake(workdir, "-n", configfiles=configs)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert "measured but given no data (no teacher prompt): Where" in dry.stderr

        result = snakemake(workdir, "--cores", "2", configfiles=configs)
        assert result.returncode == 0, result.stderr[-4000:]

    run = workdir / "results" / "ours"
    metrics = json.loads((run / "iter_1" / "eval" / "metrics.json").read_text())
    assert sorted(metrics["splits"]["test"]["per_type"]) == ["1", "2", "3"]  # all three measured
    quotas = json.loads((run / "iter_1" / "plan" / "quotas.json").read_text())["quotas"]
    assert quotas["1"] > 0 and quotas["2"] > 0 and quotas["3"] == 0
    data = run / "iter_1" / "data"
    accepted = [json.loads(line) for line in (data / "accepted.jsonl").read_text().splitlines()]
    assert {sample["qtype"] for sample in accepted} == {1, 2}
    # The pool's images are untyped: the teacher skips one that cannot carry the type, nothing else.
    rejected = [json.loads(line) for line in (data / "rejected.jsonl").read_text().splitlines()]
    assert {record["reason"] for record in rejected} <= {"unsupported"}
    assert len(accepted) + len(rejected) == sum(quotas.values())
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert set(summary["iterations"][1]["per_type"]) == set(CATEGORIES)

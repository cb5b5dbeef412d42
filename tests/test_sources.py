"""Source datasets as inputs of the rules that read them: the manifest, the dry run's check of the
configured paths, and what an edited benchmark file, annotation file or image reruns."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from dataengine.data.benchmark import build_synthetic_benchmark
from dataengine.data.sources import require_present, write_manifest
from tests.conftest import CONFIGS, offline_loop_jobs, snakemake, touched_run
from tests.real_fixtures import png, write_coco, write_seedbench
from tests.test_workflow import planned_jobs


def test_manifest_is_rewritten_exactly_when_a_source_changes(tmp_path):
    folder, annotations = tmp_path / "images", tmp_path / "a.json"
    (folder / "sub").mkdir(parents=True)
    for name in ("1.jpg", "2.jpg", "sub/3.jpg"):
        (folder / name).write_bytes(png("red"))
    annotations.write_text("{}")
    manifest = tmp_path / "m.tsv"
    sources = [str(annotations), str(folder)]
    assert write_manifest(manifest, sources)
    assert manifest.read_text().splitlines()[1:] == [
        f"{path}\t{os.stat(path).st_size}\t{os.stat(path).st_mtime_ns}"
        for path in (str(annotations), f"{folder}/1.jpg", f"{folder}/2.jpg", f"{folder}/sub/3.jpg")
    ]
    assert not write_manifest(manifest, sources)  # nothing changed: not even touched
    (folder / ".DS_Store").write_bytes(b"x")  # hidden files are not sources
    assert not write_manifest(manifest, sources)
    old = os.stat(folder / "2.jpg").st_mtime_ns
    (folder / "2.jpg").write_bytes(png("blue"))
    assert write_manifest(manifest, sources)
    os.utime(folder / "2.jpg", ns=(old - 10**9, old - 10**9))  # an older copy put back: still a change
    assert write_manifest(manifest, sources)
    (folder / "sub" / "3.jpg").unlink()
    assert write_manifest(manifest, sources)
    assert f"{folder}/sub/3.jpg" not in manifest.read_text()


def test_every_missing_source_path_is_named_with_its_config_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as err:
        require_present(
            [("benchmark.path", "there.json"), ("benchmark.image_dir", "imgs"), ("pool.captions", "c.json")]
        )
    assert str(err.value).splitlines() == [
        f"2 configured source paths do not exist (relative ones are taken from {tmp_path}):",
        "  benchmark.image_dir: imgs",
        "  pool.captions: c.json",
    ]


def test_dry_run_names_every_missing_source_path_at_once(workdir, tmp_path):
    coco = write_coco(tmp_path / "coco")
    overlay = tmp_path / "missing.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "benchmark": {
                    "kind": "seedbench",
                    "path": "data/SEED-Bench.json",
                    "image_dir": "data/SEED-Bench-image",
                },
                "pool": {**coco, "captions": "data/coco/captions_train2017.json", "image_dir": "data/coco/train2017"},
                "student": {"base": "models/llava-1.5-7b-hf"},
            }
        )
    )
    result = snakemake(workdir, "-n", configfiles=[CONFIGS / "small.yaml", overlay])
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "5 configured source paths do not exist" in text
    for line in (
        "benchmark.path: data/SEED-Bench.json",
        "benchmark.image_dir: data/SEED-Bench-image",
        "pool.captions: data/coco/captions_train2017.json",
        "pool.image_dir: data/coco/train2017",
        "student.base: models/llava-1.5-7b-hf",
    ):
        assert line in text
    assert not (workdir / "results").exists()


def _jobs(workdir, configfiles, target):
    return planned_jobs(snakemake(workdir, "-n", target, "--quiet", "rules", configfiles=configfiles))


def test_an_edited_source_reruns_the_rule_that_reads_it_and_nothing_upstream(workdir, tmp_path):
    data = tmp_path / "data"
    overlay = tmp_path / "real.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "run": "real",
                "qtypes": [1, 3],
                "benchmark": {**write_seedbench(data / "seed"), "dev_share": 0.5},
                "pool": write_coco(data / "coco"),
            }
        )
    )
    configfiles = [CONFIGS / "small.yaml", overlay]
    target = "results/real/pool/annotations.jsonl"
    built = snakemake(workdir, "--cores", "1", target, configfiles=configfiles)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(
        snakemake(workdir, "-n", target, configfiles=configfiles)
    )
    manifest = (workdir / "results" / "real" / "sources" / "pool.tsv").read_text()
    assert f"{data / 'coco' / 'train2017' / '000000000002.jpg'}\t" in manifest

    (data / "coco" / "train2017" / "000000000002.jpg").write_bytes(png("pink", (20, 10)))  # one pool image
    assert _jobs(workdir, configfiles, target) == {"build_pool": 1}
    assert snakemake(workdir, "--cores", "1", target, configfiles=configfiles).returncode == 0

    captions = data / "coco" / "captions.json"
    captions.write_text(captions.read_text().replace("A white wall.", "A white wall with a door."))
    result = snakemake(workdir, "-n", target, configfiles=configfiles)
    assert re.search(r"reason: Updated input files: .*captions\.json", result.stdout + result.stderr)
    assert _jobs(workdir, configfiles, target) == {"build_pool": 1}
    assert snakemake(workdir, "--cores", "1", target, configfiles=configfiles).returncode == 0

    image = data / "seed" / "seed-images" / "1_green.jpg"  # a benchmark image put back as an older copy
    before = image.stat().st_mtime_ns
    image.write_bytes(png("olive"))
    os.utime(image, ns=(before - 10**9, before - 10**9))
    assert _jobs(workdir, configfiles, target) == {"build_benchmark": 1, "build_pool": 1}


def write_seed_format(items_dir, out) -> dict:
    """The synthetic benchmark of items_dir written in SEED-Bench's JSON format, with its images."""
    import polars as pl

    items = pl.read_parquet(items_dir / "items.parquet")
    questions = [
        {
            "question_id": row["id"],
            "question": row["question"],
            "answer": row["answer"],
            **dict(zip(("choice_a", "choice_b", "choice_c", "choice_d"), row["options"])),
            "question_type_id": row["qtype"],
            "data_id": row["image"].removeprefix("images/"),
            "data_type": "image",
        }
        for row in items.iter_rows(named=True)
    ]
    out.mkdir(parents=True)
    (out / "SEED-Bench.json").write_text(json.dumps({"questions": questions}))
    os.rename(items_dir / "images", out / "SEED-Bench-image")
    return {"kind": "seedbench", "path": str(out / "SEED-Bench.json"), "image_dir": str(out / "SEED-Bench-image")}


def test_editing_a_seed_format_json_after_a_run_plans_the_benchmark_and_everything_downstream(workdir, tmp_path):
    small = yaml.safe_load((CONFIGS / "small.yaml").read_text())
    build_synthetic_benchmark(tmp_path / "synthetic", small["qtypes"], 12, 12, seed=5)
    benchmark = write_seed_format(tmp_path / "synthetic", tmp_path / "SEED-Bench")
    overlay = tmp_path / "seed.yaml"
    overlay.write_text(yaml.safe_dump({"run": "seed-format", "benchmark": {**benchmark, "dev_share": 0.5}}))
    configfiles = [CONFIGS / "small.yaml", overlay]
    # The benchmark is read from the JSON for real; the rest of the run stands in, marked up to date.
    built = snakemake(workdir, "--cores", "1", "results/seed-format/benchmark/items.parquet", configfiles=configfiles)
    assert built.returncode == 0, built.stderr[-4000:]
    touched_run(workdir, configfiles)

    path = tmp_path / "SEED-Bench" / "SEED-Bench.json"
    data = json.loads(path.read_text())
    data["questions"][0]["question"] = "Which kind of scene is shown?"
    path.write_text(json.dumps(data))
    result = snakemake(workdir, "-n", configfiles=configfiles)
    assert re.search(r"rule build_benchmark:.*?reason: Updated input files: .*SEED-Bench\.json", result.stdout, re.S)
    jobs = _jobs(workdir, configfiles, "all")
    assert jobs == offline_loop_jobs(small["iterations"])

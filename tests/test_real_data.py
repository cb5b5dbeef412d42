"""Real benchmark loaders, CircularEval arithmetic and real image pools, on tiny fixtures in each format."""

import json

import polars as pl
import pytest

from dataengine.benchmark import load_items
from dataengine.benchmarks import build_real_benchmark
from dataengine.contamination import benchmark_hashes
from dataengine.evaluate import metrics
from dataengine.pool import image_sha256, load_pool
from dataengine.pools import build_real_pool
from tests.real_fixtures import (
    mmbench_rows,
    png,
    write_aokvqa,
    write_coco,
    write_mmbench,
    write_seedbench,
    write_visual_genome,
)


def build(cfg, out, qtypes=range(1, 10), dev_share=0.5):
    return build_real_benchmark(cfg["kind"], out, cfg | {"dev_share": dev_share}, list(qtypes), seed=0)


def test_seedbench_image_items_of_the_configured_types(tmp_path):
    items = build(write_seedbench(tmp_path), tmp_path / "bench", qtypes=[3])
    assert items["id"].to_list() == ["seed-101", "seed-102"]  # type 1 and the video item are left out
    assert items["options"][0].to_list() == ["red", "green", "blue", "yellow"]
    assert items["answer"].to_list() == ["B", "C"] and items["image"][0] == "images/1_green.jpg"
    assert "group" not in items.columns
    assert load_items(tmp_path / "bench" / "items.parquet").equals(items)
    assert (tmp_path / "bench" / "images" / "1_green.jpg").read_bytes() == png("green")


def test_splits_follow_dev_share_and_are_seeded(tmp_path):
    cfg = write_seedbench(tmp_path)
    assert set(build(cfg, tmp_path / "a", dev_share=1.0)["split"]) == {"dev"}
    assert set(build(cfg, tmp_path / "b", dev_share=0.0)["split"]) == {"test"}
    assert build(cfg, tmp_path / "c").equals(build(cfg, tmp_path / "d"))


def test_seedbench_bad_row_and_missing_images(tmp_path):
    cfg = write_seedbench(tmp_path)
    data = json.loads((tmp_path / "SEED-Bench.json").read_text())
    data["questions"][1]["answer"] = "E"
    (tmp_path / "SEED-Bench.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"questions\[1\] \(question_id '101'\): answer 'E'"):
        build(cfg, tmp_path / "bench")
    data["questions"][1]["answer"] = "B"
    (tmp_path / "SEED-Bench.json").write_text(json.dumps(data))
    for name in ("0_red.jpg", "2_blue.jpg"):
        (tmp_path / "seed-images" / name).unlink()
    with pytest.raises(FileNotFoundError, match=r"2 images missing: .*0_red.jpg, .*2_blue.jpg"):
        build(cfg, tmp_path / "bench")


def test_mmbench_groups_hints_copies_and_two_options(tmp_path):
    items = build(write_mmbench(tmp_path), tmp_path / "bench")
    assert items["id"].to_list() == ["mmb-0", "mmb-1000000", "mmb-1", "mmb-1000001", "mmb-2"]
    assert items["group"].to_list() == [0, 0, 1, 1, 2]
    assert items["qtype"].to_list() == [4, 4, 3, 3, 3]
    assert items["question"][0] == "Look.\nWhich colour?" and items["question"][1] == "Which colour?"
    assert items["options"][1].to_list() == ["green", "blue", "yellow", "red"] and items["answer"][1] == "D"
    assert items["options"][4].to_list() == ["yes", "no"]
    assert items["image"][1] == items["image"][0] == "images/mmb-0.png"  # the copy shares its base's image
    for group in (0, 1):  # rotations of one question never straddle the splits
        assert items.filter(pl.col("group") == group)["split"].n_unique() == 1


def test_mmbench_unmapped_category_and_bad_answer_name_the_line(tmp_path):
    rows = mmbench_rows()
    rows[2]["category"] = "celebrity_recognition"
    with pytest.raises(ValueError, match=r"line 4 \(index '1'\): type 'celebrity_recognition' is not in"):
        build(write_mmbench(tmp_path, rows), tmp_path / "bench")
    rows = mmbench_rows()
    rows[4]["answer"] = "C"
    with pytest.raises(ValueError, match=r"line 6 \(index '2'\): answer 'C' is not among the 2 options"):
        build(write_mmbench(tmp_path, rows), tmp_path / "bench")


def test_aokvqa_types_from_the_classification_file(tmp_path):
    cfg = write_aokvqa(tmp_path)
    items = build(cfg, tmp_path / "bench")
    assert items["qtype"].to_list() == [8, 8] and items["answer"].to_list() == ["A", "B"]
    assert items["image"].to_list() == ["images/000000000007.jpg", "images/000000000008.jpg"]
    (tmp_path / "aokvqa_types.json").write_text(json.dumps({"q0": "Visual Reasoning"}))
    with pytest.raises(ValueError, match=r"row 1 \(question_id 'q1'\): no type for this question"):
        build(cfg, tmp_path / "bench2")


def test_circular_accuracy_counts_a_group_only_when_every_rotation_is_right():
    # group 1: 2/2 right; group 2: 1/2 right; group 3: 0/1 (type 4); group 4: 1/1 (type 4)
    predictions = pl.DataFrame({
        "id": list("abcdef"), "qtype": [3, 3, 3, 3, 4, 4], "split": ["test"] * 6, "answer": ["A"] * 6,
        "prediction": ["A", "A", "A", "B", "C", "A"], "correct": [True, True, True, False, False, True],
        "scores": [[0.0]] * 6, "group": [1, 1, 2, 2, 3, 4],
    })  # fmt: skip
    test = metrics(predictions, "letter")["splits"]["test"]
    assert test["overall"]["acc"] == pytest.approx(100 * 4 / 6, abs=1e-3)
    assert test["circular"]["overall"]["acc"] == 50.0 and test["circular"]["overall"]["n"] == 4
    assert test["circular"]["per_type"]["3"]["acc"] == 50.0 and test["circular"]["per_type"]["4"]["acc"] == 50.0
    assert "circular" not in metrics(predictions.drop("group"), "letter")["splits"]["test"]


def test_coco_pool_normalises_boxes_and_excludes_benchmark_images(tmp_path):
    cfg = write_coco(tmp_path)
    bench = tmp_path / "bench"
    (bench / "images").mkdir(parents=True)
    (bench / "images" / "x.jpg").write_bytes((tmp_path / "train2017" / "000000000002.jpg").read_bytes())
    items = pl.DataFrame({"image": ["images/x.jpg"]})
    built = build_real_pool("coco", tmp_path / "pool", cfg, benchmark_hashes(items, bench), seed=0)
    assert built.benchmark_images == ["coco-2"] and built.duplicates == []
    records = load_pool(tmp_path / "pool" / "annotations.jsonl")
    assert [r["image_id"] for r in records] == ["coco-1", "coco-3"]
    first = records[0]
    assert first["captions"] == ["A white wall."] and first["qtypes"] is None and first["background"] is None
    assert first["objects"] == [
        {"category": "wall", "color": None, "size": None, "box": [0.1, 0.1, 0.6, 0.6]},
        {"category": "dog", "color": None, "size": None, "box": [0.75, 0.5, 1.0, 1.0]},  # clipped to the image
    ]
    assert first["sha256"] == image_sha256(tmp_path / "pool" / first["image"])


def test_coco_pool_max_images_and_missing_images(tmp_path):
    cfg = write_coco(tmp_path)
    built = build_real_pool("coco", tmp_path / "pool", cfg | {"max_images": 2}, set(), seed=0)
    assert len(built.records) == 2
    (tmp_path / "train2017" / "000000000001.jpg").unlink()
    (tmp_path / "train2017" / "000000000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"2 images missing: .*000000000001.jpg, .*000000000003.jpg"):
        build_real_pool("coco", tmp_path / "pool2", cfg, set(), seed=0)


def test_visual_genome_pool_from_two_folders(tmp_path):
    built = build_real_pool("visual_genome", tmp_path / "pool", write_visual_genome(tmp_path), set(), seed=0)
    first, second = built.records
    assert first["image_id"] == "vg-1" and first["captions"] == ["a tall tree"]
    assert first["objects"] == [{"category": "tree", "color": None, "size": None, "box": [0.1, 0.1, 0.5, 0.6]}]
    assert second["image"] == "images/2.jpg" and second["objects"] == [] and second["captions"] == []

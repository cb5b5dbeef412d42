"""Real benchmark loaders, CircularEval arithmetic and real image pools, on tiny fixtures in each format."""

import json
import logging
import re

import polars as pl
import pytest

from dataengine.core.qtypes import run_types
from dataengine.data.benchmark import load_items
from dataengine.data.benchmarks import build_real_benchmark
from dataengine.data.contamination import benchmark_hashes
from dataengine.data.pool import image_sha256, load_pool
from dataengine.data.pools import build_real_pool
from dataengine.data.sources import SourceError
from dataengine.eval.evaluate import metrics
from tests.real_fixtures import (
    GENERIC_CATEGORIES,
    GENERIC_ROWS,
    mmbench_rows,
    png,
    write_aokvqa,
    write_coco,
    write_generic,
    write_mmbench,
    write_mmbench_shards,
    write_seedbench,
    write_seedbench_shards,
    write_visual_genome,
)


def build(cfg, out, qtypes=range(1, 10), dev_share=0.5):
    """The benchmark of `cfg` built for a run measuring `qtypes` (SEED ids, or the benchmark's own categories)."""
    types = run_types({"benchmark": cfg, "qtypes": list(qtypes)})
    return build_real_benchmark(cfg["kind"], out, cfg | {"dev_share": dev_share}, types, seed=0)


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


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_seedbench_every_bad_row_and_missing_image_in_one_error_before_writing(tmp_path):
    cfg = write_seedbench(tmp_path)

    def plant(data):
        questions = data["questions"]
        questions[1]["answer"] = "E"
        questions[2]["choice_b"] = questions[2]["choice_a"]
        questions.append({"question_id": "103", "question": "Where?", "question_type_id": 3, "data_type": "image"})
        questions.append({**questions[1], "answer": "B"})  # the same question_id again

    _edit_json(tmp_path / "SEED-Bench.json", plant)
    (tmp_path / "seed-images" / "0_red.jpg").unlink()
    with pytest.raises(SourceError) as err:
        build(cfg, tmp_path / "bench")
    path = tmp_path / "SEED-Bench.json"
    assert str(err.value).splitlines() == [
        "benchmark seedbench: 4 bad rows:",
        f"  {path}: questions[1] (question_id '101'): answer 'E' is not one of A, B, C, D",
        f"  {path}: questions[2] (question_id '102'): duplicate options ['red'] in ['red', 'red', 'blue', 'yellow']",
        f"  {path}: questions[4] (question_id '103'): missing keys "
        "['choice_a', 'choice_b', 'choice_c', 'choice_d', 'answer', 'data_id']",
        f"  {path}: questions[5] (question_id '101'): duplicate id: an earlier row has it",
        f"1 images missing: {tmp_path / 'seed-images' / '0_red.jpg'}",
        "Nothing was written.",
    ]
    assert not (tmp_path / "bench").exists()


@pytest.mark.parametrize(
    "content, shape",
    [([], "got a list"), ({"question_type": {}}, "got an object without a 'questions' list"), ("x", "got a string")],
)
def test_seedbench_file_of_another_shape_is_named_with_what_was_expected(tmp_path, content, shape):
    cfg = write_seedbench(tmp_path)
    (tmp_path / "SEED-Bench.json").write_text(json.dumps(content))
    with pytest.raises(
        SourceError,
        match=re.escape(f"SEED-Bench.json: expected SEED-Bench's JSON, an object with a 'questions' list; {shape}"),
    ):
        build(cfg, tmp_path / "bench")


def test_an_aokvqa_file_given_as_seedbench_is_named(tmp_path):
    aokvqa = write_aokvqa(tmp_path / "aokvqa")
    cfg = write_seedbench(tmp_path) | {"path": aokvqa["path"]}
    with pytest.raises(SourceError, match=r"aokvqa_v1p0_val.json: expected SEED-Bench's JSON, .*; got a list"):
        build(cfg, tmp_path / "bench")


def test_seedbench_items_left_out_are_counted_in_the_log_by_reason(tmp_path, caplog):
    cfg = write_seedbench(tmp_path)
    _edit_json(
        tmp_path / "SEED-Bench.json",
        lambda data: data["questions"].append({**data["questions"][0], "question_id": "950", "question_type_id": 13}),
    )
    with caplog.at_level(logging.INFO, logger="dataengine"):
        items = build(cfg, tmp_path / "bench", qtypes=[3])
    assert items.height == 2
    assert (
        "benchmark seedbench: 2 kept; left out: 1 not image questions (data_type video), "
        "1 of a type outside qtypes [3], 1 of an unknown type id (known: 1-9)"
    ) in caplog.messages


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


def test_mmbench_three_bad_rows_are_named_in_one_error_by_line_and_index(tmp_path):
    rows = mmbench_rows()
    rows[0]["question"] = "Which colour\nis it?"  # a quoted field over two lines: rows and lines differ
    rows[2]["category"] = "celebrity_recognition"
    rows[3]["B"] = rows[3]["A"]
    rows[4]["answer"] = "C"
    cfg = write_mmbench(tmp_path, rows)
    with pytest.raises(SourceError) as err:
        build(cfg, tmp_path / "bench")
    path = cfg["path"]
    assert str(err.value).splitlines() == [
        "benchmark mmbench: 3 bad rows:",
        f"  {path}: line 5 (index '1'): type 'celebrity_recognition' is not in benchmark.qtype_map "
        "(['attribute_recognition', 'object_localization'])",
        f"  {path}: line 6 (index '1000001'): duplicate options ['green'] in ['green', 'green', 'yellow', 'red']",
        f"  {path}: line 7 (index '2'): answer 'C' is not one of A, B",
        "Nothing was written.",
    ]
    assert not (tmp_path / "bench").exists()


def test_mmbench_without_its_columns_and_with_a_broken_image(tmp_path):
    rows = mmbench_rows()
    rows[4]["image"] = "bm90IGFuIGltYWdl"  # base64 of "not an image"
    cfg = write_mmbench(tmp_path, rows)
    with pytest.raises(SourceError, match=r"line 6 \(index '2'\): image is not a base64-encoded picture"):
        build(cfg, tmp_path / "bench")
    (tmp_path / "MMBench_DEV_EN.tsv").write_text("question\tanswer\nWhy?\tA\n")
    with pytest.raises(
        SourceError, match=r"MMBench_DEV_EN.tsv: missing columns \['index', 'image', 'A', 'B', 'category'\]"
    ):
        build(cfg, tmp_path / "bench")


def _same_benchmark(release_dir, copy_dir):
    """The two built benchmarks hold the same items and the same image files."""
    release, copy = (load_items(folder / "items.parquet") for folder in (release_dir, copy_dir))
    assert copy.equals(release)
    for image in release["image"]:
        assert (copy_dir / image).read_bytes() == (release_dir / image).read_bytes()


def test_seedbench_hugging_face_copy_reads_as_the_release(tmp_path):
    release = write_seedbench(tmp_path / "release")
    copy = write_seedbench_shards(tmp_path / "lmms-lab-SEED-Bench", release)
    items = build(copy, tmp_path / "from_copy", qtypes=[1, 3])
    assert items["id"].to_list() == ["seed-100", "seed-101", "seed-102"]  # both shards; the video item left out
    build(release, tmp_path / "from_release", qtypes=[1, 3])
    _same_benchmark(tmp_path / "from_release", tmp_path / "from_copy")
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no scratch left


def test_mmbench_hugging_face_copy_reads_as_the_release_split_by_name(tmp_path):
    copy = write_mmbench_shards(tmp_path / "lmms-lab-MMBench")
    items = build(copy, tmp_path / "from_copy")
    assert items["id"].to_list() == ["mmb-0", "mmb-1000000", "mmb-1", "mmb-1000001", "mmb-2"]
    assert items["l2_category"][0] == "finegrained_perception (instance-level)"
    build(write_mmbench(tmp_path / "release"), tmp_path / "from_release")
    _same_benchmark(tmp_path / "from_release", tmp_path / "from_copy")
    # Without `split`, the test shard is read too: its hidden answers are named row by row.
    with pytest.raises(SourceError) as err:
        build({key: value for key, value in copy.items() if key != "split"}, tmp_path / "both")
    test_shard = f"{copy['path']}/test-00000-of-00001.parquet"
    assert f"{test_shard}: row 0 (index 5000): answer '' is not one of A, B, C, D" in str(err.value)
    with pytest.raises(SourceError, match=r"no parquet shards of split 'validation' \(named validation-\*.parquet\)"):
        build(copy | {"split": "validation"}, tmp_path / "none")


def _edit_shard(shard, edit):
    rows = pl.read_parquet(shard).to_dicts()
    edit(rows)
    pl.DataFrame(rows, schema=pl.read_parquet_schema(shard)).write_parquet(shard)


def test_a_hugging_face_copy_names_its_bad_rows_and_a_shard_without_a_column(tmp_path):
    copy = write_seedbench_shards(tmp_path / "copy", write_seedbench(tmp_path / "release"))
    first, second = sorted((tmp_path / "copy" / "data").iterdir())
    _edit_shard(first, lambda rows: rows[1].update(answer="E"))
    _edit_shard(second, lambda rows: rows[0].update(image=[{"bytes": b"not a picture", "path": "x.jpg"}]))
    with pytest.raises(SourceError) as err:
        build(copy, tmp_path / "bench")
    assert str(err.value).splitlines() == [
        "benchmark seedbench: 2 bad rows:",
        f"  {first}: row 1 (question_id '101'): answer 'E' is not one of A, B, C, D",
        f"  {second}: row 0 (question_id '102'): image holds no picture (expected an embedded image: a struct "
        "of bytes and path)",
        "Nothing was written.",
    ]
    assert not (tmp_path / "bench").exists()
    pl.read_parquet(second).drop("data_id").write_parquet(second)
    with pytest.raises(SourceError, match=r"test-00001-of-00002.parquet: missing columns \['data_id'\]"):
        build(copy, tmp_path / "bench")


def test_aokvqa_types_from_the_classification_file(tmp_path):
    cfg = write_aokvqa(tmp_path)
    items = build(cfg, tmp_path / "bench")
    assert items["qtype"].to_list() == [8, 8] and items["answer"].to_list() == ["A", "B"]
    assert items["image"].to_list() == ["images/000000000007.jpg", "images/000000000008.jpg"]
    (tmp_path / "aokvqa_types.json").write_text(json.dumps({"q0": "Visual Reasoning"}))
    _edit_json(tmp_path / "aokvqa_v1p0_val.json", lambda rows: rows[0].update(choices=["paint", "paint", "dye", "sun"]))
    with pytest.raises(SourceError) as err:
        build(cfg, tmp_path / "bench2")
    assert "2 bad rows" in str(err.value)
    assert "row[1] (question_id 'q1'): no type for this question in" in str(err.value)
    assert "row[0] (question_id 'q0'): duplicate options ['paint']" in str(err.value)


def test_aokvqa_files_of_another_shape_are_named(tmp_path):
    cfg = write_aokvqa(tmp_path)
    (tmp_path / "aokvqa_types.json").write_text(json.dumps([["q0", "Visual Reasoning"]]))
    with pytest.raises(SourceError, match=r"aokvqa_types.json: expected a JSON object question_id -> type; got a list"):
        build(cfg, tmp_path / "bench")
    (tmp_path / "aokvqa_v1p0_val.json").write_text(json.dumps({"questions": []}))
    with pytest.raises(
        SourceError, match=r"aokvqa_v1p0_val.json: expected A-OKVQA's JSON, a list of questions; got an object"
    ):
        build(cfg, tmp_path / "bench")


def test_mmbench_without_a_qtype_map_measures_its_own_categories_by_name(tmp_path):
    release = write_mmbench(tmp_path / "release")
    del release["qtype_map"]
    qtypes = ["attribute_recognition", "object_localization"]  # ids 1 and 2, in this order
    items = build(release, tmp_path / "from_release", qtypes=qtypes)
    assert items["id"].to_list() == ["mmb-0", "mmb-1000000", "mmb-1", "mmb-1000001", "mmb-2"]
    assert items["qtype"].to_list() == [2, 2, 1, 1, 1]
    copy = write_mmbench_shards(tmp_path / "lmms-lab-MMBench")
    del copy["qtype_map"]
    build(copy, tmp_path / "from_copy", qtypes=qtypes)
    _same_benchmark(tmp_path / "from_release", tmp_path / "from_copy")
    assert build(release, tmp_path / "one", qtypes=["object_localization"])["qtype"].to_list() == [1, 1]
    with pytest.raises(SourceError) as err:  # the default qtypes, SEED-Bench's ids, are no MMBench ability
        build(release, tmp_path / "default", qtypes=[1, 2, 3, 4, 5, 8])
    assert str(err.value) == (
        f"{release['path']}: qtypes names ['1', '2', '3', '4', '5', '8'], which no row has as its category. "
        "Its categories (rows): 'attribute_recognition' (3), 'object_localization' (2). "
        "Set qtypes to the categories the run measures, in the order that numbers them."
    )


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_generic_benchmark_reads_alike_from_jsonl_csv_and_parquet(tmp_path, form):
    """CSV with options in columns A..J, parquet with each image embedded (datasets' struct): the
    same items.parquet and image files as JSONL's."""
    items = build(write_generic(tmp_path / "jsonl", "jsonl"), tmp_path / "from_jsonl", qtypes=GENERIC_CATEGORIES)
    assert items["id"].to_list() == ["c1", "t1", "m1", "c2", "t2"]
    assert items["qtype"].to_list() == [1, 2, 3, 1, 2]  # Charts, Tables, Maps: numbered in qtypes' order
    assert items["question"][0] == "The bars are coloured.\nWhich bar is highest?"
    assert [len(options) for options in items["options"]] == [3, 2, 10, 5, 4]
    assert items["answer"].to_list() == ["A", "B", "J", "E", "C"]
    assert items["image"].to_list() == [f"images/{row['image']}" for row in GENERIC_ROWS]
    assert items.filter(pl.col("image") == "images/red.png")["split"].n_unique() == 1  # c1 and t2: one image
    assert load_items(tmp_path / "from_jsonl" / "items.parquet").equals(items)
    build(write_generic(tmp_path / form, form), tmp_path / "from_form", qtypes=GENERIC_CATEGORIES)
    _same_benchmark(tmp_path / "from_jsonl", tmp_path / "from_form")


def test_a_generic_parquet_with_a_binary_image_column_names_the_images_by_content(tmp_path):
    cfg = write_generic(tmp_path, "parquet")
    table = pl.read_parquet(cfg["path"])
    table.with_columns(pl.col("image").struct.field("bytes")).write_parquet(cfg["path"])
    items = build(cfg, tmp_path / "bench", qtypes=GENERIC_CATEGORIES)
    names = items["image"].to_list()
    assert names[0] == names[4] and len(set(names)) == 4  # c1 and t2 embed the same picture
    for row, image in zip(table.iter_rows(named=True), names):
        assert (tmp_path / "bench" / image).read_bytes() == row["image"]["bytes"]


def test_a_generic_benchmark_keeps_the_categories_qtypes_names_numbered_in_its_order(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="dataengine"):
        items = build(write_generic(tmp_path, "jsonl"), tmp_path / "bench", qtypes=["Tables", "Charts"])
    assert items.select("id", "qtype").rows() == [("c1", 2), ("t1", 1), ("c2", 2), ("t2", 1)]
    assert "benchmark generic: 4 kept; left out: 1 of a category outside qtypes" in caplog.messages


def test_a_qtypes_name_no_generic_row_has_stops_the_build_listing_the_categories(tmp_path):
    cfg = write_generic(tmp_path, "jsonl")
    with pytest.raises(SourceError) as err:
        build(cfg, tmp_path / "bench", qtypes=["Charts", "charts", "Diagrams"])
    assert str(err.value) == (
        f"{cfg['path']}: qtypes names ['charts', 'Diagrams'], which no row has as its category. "
        "Its categories (rows): 'Charts' (2), 'Maps' (1), 'Tables' (2). "
        "Set qtypes to the categories the run measures, in the order that numbers them."
    )
    assert not (tmp_path / "bench").exists()


def test_every_bad_generic_row_is_named_in_one_error(tmp_path):
    cfg = write_generic(tmp_path, "parquet")
    ten = [f"o{n}" for n in range(11)]

    def plant(rows):
        good = rows[1]
        rows[:] = [
            good,
            good | {"id": "x1", "question": None},
            good | {"id": "x2", "options": ["alone"]},
            good | {"id": "x3", "options": ten},
            good | {"id": "x4", "options": ["a", "b", "c"], "answer": "D"},
            good | {"id": "x5", "image": {"bytes": None, "path": "absent.png"}},
            good | {"id": "x6", "image": {"bytes": b"not a picture", "path": "x6.png"}},
            good,
        ]

    _edit_shard(cfg["path"], plant)
    with pytest.raises(SourceError) as err:
        build(cfg | {"image_dir": str(tmp_path / "images")}, tmp_path / "bench", qtypes=["Tables"])
    path = cfg["path"]
    assert str(err.value).splitlines() == [
        "benchmark generic: 6 bad rows:",
        f"  {path}: row 1 (id 'x1'): missing or blank ['question']",
        f"  {path}: row 2 (id 'x2'): needs 2-10 options, got ['alone']",
        f"  {path}: row 3 (id 'x3'): needs 2-10 options, got {ten!r}",
        f"  {path}: row 4 (id 'x4'): answer 'D' is not one of A, B, C",
        f"  {path}: row 6 (id 'x6'): image holds no picture (expected a file path, or an image's bytes "
        "embedded in parquet)",
        f"  {path}: row 7 (id 't1'): duplicate id: an earlier row has it",
        f"1 images missing: {tmp_path / 'images' / 'absent.png'}",
        "Nothing was written.",
    ]
    assert not (tmp_path / "bench").exists()


def test_generic_csv_options_are_consecutive_from_a_and_a_file_of_another_kind_is_named(tmp_path):
    cfg = write_generic(tmp_path, "csv")
    path = tmp_path / "bench.csv"
    header, first, *rest = path.read_text().splitlines()
    path.write_text("\n".join([header, first.replace(",red,green,blue,", ",red,,blue,"), *rest]) + "\n")
    with pytest.raises(SourceError, match=r"bench.csv: line 2 \(id 'c1'\): options must be consecutive from A"):
        build(cfg, tmp_path / "bench", qtypes=GENERIC_CATEGORIES)
    path.write_text("id,question\n1,Why?\n")
    with pytest.raises(SourceError, match=r"bench.csv: missing columns \['image', 'answer', 'category', 'A', 'B'\]"):
        build(cfg, tmp_path / "bench", qtypes=GENERIC_CATEGORIES)
    with pytest.raises(SourceError, match=r"bench.tsv: expected a .jsonl, .csv or .parquet file"):
        build(cfg | {"path": str(tmp_path / "bench.tsv")}, tmp_path / "bench", qtypes=GENERIC_CATEGORIES)


def test_circular_accuracy_counts_a_group_only_when_every_rotation_is_right():
    # group 1: 2/2 right; group 2: 1/2 right; group 3: 0/1 (type 4); group 4: 1/1 (type 4)
    predictions = pl.DataFrame(
        {
            "id": list("abcdef"),
            "qtype": [3, 3, 3, 3, 4, 4],
            "split": ["test"] * 6,
            "answer": ["A"] * 6,
            "prediction": ["A", "A", "A", "B", "C", "A"],
            "correct": [True, True, True, False, False, True],
            "scores": [[0.0]] * 6,
            "group": [1, 1, 2, 2, 3, 4],
        }
    )
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
    with pytest.raises(SourceError, match=r"pool coco: 2 images missing: .*000000000001.jpg, .*000000000003.jpg"):
        build_real_pool("coco", tmp_path / "pool2", cfg, set(), seed=0)
    assert not (tmp_path / "pool2").exists()


def test_coco_bad_rows_of_both_files_in_one_error(tmp_path, caplog):
    cfg = write_coco(tmp_path)

    def captions(data):
        data["images"][2]["width"] = 0
        data["annotations"].append({"id": 77, "image_id": 42, "caption": "A cat."})

    _edit_json(tmp_path / "captions.json", captions)
    _edit_json(tmp_path / "instances.json", lambda data: data["annotations"][0].update(bbox=[2.0, 1.0, -3.0, 5.0]))
    with pytest.raises(SourceError) as err:
        build_real_pool("coco", tmp_path / "pool", cfg, set(), seed=0)
    assert str(err.value).splitlines() == [
        "pool coco: 3 bad rows:",
        f"  {tmp_path / 'captions.json'}: images[2] (id 3): width and height must be positive numbers, got 0x10",
        f"  {tmp_path / 'captions.json'}: annotations[3] (id 77): "
        "needs an image_id of the file's images and a caption string",
        f"  {tmp_path / 'instances.json'}: annotations[0] (id 21): box [2.0, 1.0, -3.0, 5.0] has a negative size",
        "Nothing was written.",
    ]
    (tmp_path / "instances.json").write_text("[]")
    with pytest.raises(
        SourceError,
        match=r"instances.json: expected a COCO annotation file, an object with the lists "
        r"\['images', 'annotations', 'categories'\]; got a list",
    ):
        build_real_pool("coco", tmp_path / "pool", cfg, set(), seed=0)
    assert not (tmp_path / "pool").exists()


def test_coco_boxes_of_images_without_captions_are_counted_in_the_log(tmp_path, caplog):
    cfg = write_coco(tmp_path)
    _edit_json(
        tmp_path / "instances.json",
        lambda data: data["annotations"].append(
            {"id": 98, "image_id": 50, "category_id": 1, "bbox": [1.0, 1.0, 2.0, 2.0]}
        ),
    )
    with caplog.at_level(logging.INFO, logger="dataengine"):
        build_real_pool("coco", tmp_path / "pool", cfg | {"max_images": 2}, set(), seed=0)
    assert (
        "pool coco: 2 kept; left out: 1 boxes of images without captions, 1 not drawn (pool.max_images 2)"
        in caplog.messages
    )


def test_visual_genome_pool_from_two_folders(tmp_path):
    built = build_real_pool("visual_genome", tmp_path / "pool", write_visual_genome(tmp_path), set(), seed=0)
    first, second = built.records
    assert first["image_id"] == "vg-1" and first["captions"] == ["a tall tree"]
    assert first["objects"] == [{"category": "tree", "color": None, "size": None, "box": [0.1, 0.1, 0.5, 0.6]}]
    assert second["image"] == "images/2.jpg" and second["objects"] == [] and second["captions"] == []


def test_visual_genome_bad_objects_and_a_file_of_another_shape(tmp_path):
    cfg = write_visual_genome(tmp_path)
    _edit_json(
        tmp_path / "objects.json",
        lambda rows: rows[0]["objects"].append({"x": 1, "y": 1, "w": -2, "h": 1, "names": ["x"]}),
    )
    with pytest.raises(
        SourceError, match=r"row\[0\] \(image_id 1\): objects\[1\]: box \[1, 1, -2, 1\] has a negative size"
    ):
        build_real_pool("visual_genome", tmp_path / "pool", cfg, set(), seed=0)
    (tmp_path / "regions.json").write_text(json.dumps({"1": []}))
    with pytest.raises(
        SourceError, match=r"regions.json: expected Visual Genome's region descriptions JSON, a list; got an object"
    ):
        build_real_pool("visual_genome", tmp_path / "pool", cfg, set(), seed=0)

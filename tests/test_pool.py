import json
from collections import Counter

import pytest

from dataengine.data.pool import build_synthetic_pool, image_sha256, load_pool
from dataengine.data.synthetic.annotations import annotation_to_scene
from dataengine.data.synthetic.questions import supported_types


def test_pool_records_match_files_and_spread_families(tmp_path):
    records = build_synthetic_pool(tmp_path, n_images=30, seed=0, qtypes=[2, 6, 9], exclude_sha256=set())
    assert [r["image_id"] for r in records] == [f"p{i:06d}" for i in range(30)]
    assert load_pool(tmp_path / "annotations.jsonl") == records
    for record, family in zip(records, [2, 6, 9] * 10):
        assert image_sha256(tmp_path / record["image"]) == record["sha256"]
        assert family in record["qtypes"]
        assert record["qtypes"] == supported_types(annotation_to_scene(record))
    assert Counter(bool(r["text"]) for r in records) == {False: 20, True: 10}
    assert len({r["sha256"] for r in records}) == 30


def test_pool_drops_planted_benchmark_hashes(tmp_path):
    plain = build_synthetic_pool(tmp_path / "a", n_images=12, seed=3, qtypes=[1, 4], exclude_sha256=set())
    planted = {plain[0]["sha256"], plain[5]["sha256"]}
    records = build_synthetic_pool(tmp_path / "b", n_images=12, seed=3, qtypes=[1, 4], exclude_sha256=planted)
    hashes = {r["sha256"] for r in records}
    assert len(records) == 12 and not hashes & planted
    assert {image_sha256(p) for p in (tmp_path / "b" / "images").iterdir()} == hashes


def test_pool_is_deterministic(tmp_path):
    for name in ("a", "b"):
        build_synthetic_pool(tmp_path / name, n_images=9, seed=1, qtypes=[5, 7, 8], exclude_sha256=set())
    assert (tmp_path / "a" / "annotations.jsonl").read_bytes() == (tmp_path / "b" / "annotations.jsonl").read_bytes()


def test_load_pool_names_bad_record_and_lists_missing_images(tmp_path):
    records = build_synthetic_pool(tmp_path, n_images=3, seed=0, qtypes=[3], exclude_sha256=set())
    path = tmp_path / "annotations.jsonl"
    broken = [dict(r) for r in records]
    broken[1]["objects"] = [{**broken[1]["objects"][0], "box": [0.5, 0.1, 0.2, 0.9]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in broken))
    with pytest.raises(ValueError, match=r"record 2 \(p000001\): objects\[0\]\.box"):
        load_pool(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    for r in records[:2]:
        (tmp_path / r["image"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"2 images missing.*p000000.*p000001"):
        load_pool(path)


def test_load_pool_names_bad_json_line(tmp_path):
    path = tmp_path / "annotations.jsonl"
    path.write_text('{"image_id": "p1"}\n{not json\n')
    with pytest.raises(ValueError, match=r"annotations.jsonl:2: invalid JSON"):
        load_pool(path)


def test_write_jsonl_is_atomic(tmp_path):
    from dataengine.core.jsonl import read_jsonl, write_jsonl

    path = tmp_path / "t.jsonl"
    write_jsonl(path, [{"a": 1}])

    def records():
        yield {"a": 2}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(path, records())
    assert read_jsonl(path) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


def test_json_outputs_follow_the_umask(tmp_path):
    """Results on a shared cluster filesystem must be as readable as any other file the user writes."""
    import os

    from dataengine.core.jsonl import write_json, write_jsonl

    old = os.umask(0o022)
    try:
        write_jsonl(tmp_path / "t.jsonl", [{"a": 1}])
        write_json(tmp_path / "t.json", {"a": 1})
    finally:
        os.umask(old)
    assert {(tmp_path / name).stat().st_mode & 0o777 for name in ("t.jsonl", "t.json")} == {0o644}

"""The report: summary.json's exact structure and numbers, summary.md, accuracy.png, the gallery."""

import hashlib
import json

import pytest
from PIL import Image

from dataengine.report import config_hash, plot_accuracy, summarize, write_gallery, write_summary_md


def _split(overall: tuple, per_type: dict[str, tuple]) -> dict:
    def entry(acc, n, low, high):
        return {"acc": acc, "n": n, "ci_low": low, "ci_high": high}

    return {"overall": entry(*overall), "per_type": {t: entry(*v) for t, v in per_type.items()}}


# Two iterations; dev numbers differ from test ones so a summary reading dev would be caught.
METRICS = [
    {
        "scoring": "option_text",
        "splits": {
            "test": _split(
                (50.0, 200, 43.1, 56.9), {"3": (40.0, 100, 30.9, 49.8), "1": (60.0, 100, 50.2, 69.1)}
            ),
            "dev": _split((10.0, 50, 4.3, 21.4), {"3": (10.0, 25, 2.8, 30.1), "1": (10.0, 25, 2.8, 30.1)}),
        },
    },
    {
        "scoring": "option_text",
        "splits": {
            "test": _split(
                (62.5, 200, 55.6, 68.9), {"3": (55.0, 100, 45.2, 64.4), "1": (70.0, 100, 60.4, 78.1)}
            ),
            "dev": _split((90.0, 50, 78.6, 95.7), {"3": (90.0, 25, 69.9, 97.2), "1": (90.0, 25, 69.9, 97.2)}),
        },
    },
]
QUOTAS = [
    {"strategy": "paper", "budget": 10, "weights": {"1": 0.4, "3": 0.6}, "quotas": {"3": 6, "1": 4}},
    None,
]


def test_summary_matches_the_contract():
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 9])
    assert summary == {
        "run": "demo",
        "config_hash": "abc123def456",
        "iterations": [
            {
                "iteration": 0,
                "overall": 50.0,
                "per_type": {"Scene Understanding": 60.0, "Instance Attributes": 40.0},
                "n_eval": 200,
                "samples_added": 0,
                "quotas": {"Scene Understanding": 4, "Instance Attributes": 6},
            },
            {
                "iteration": 1,
                "overall": 62.5,
                "per_type": {"Scene Understanding": 70.0, "Instance Attributes": 55.0},
                "n_eval": 200,
                "samples_added": 9,
                "quotas": {},
            },
        ],
    }
    assert json.loads(json.dumps(summary)) == summary


def _with_circular(metrics: dict, overall: tuple, per_type: dict[str, tuple]) -> dict:
    test = {**metrics["splits"]["test"], "circular": _split(overall, per_type)}
    return {**metrics, "splits": {**metrics["splits"], "test": test}}


# The same runs on a benchmark with circular copies: 50 questions in 4 rotations each (200 items).
CIRCULAR = [
    _with_circular(METRICS[0], (30.0, 50, 19.1, 43.8), {"3": (20.0, 25, 8.9, 39.1), "1": (40.0, 25, 23.4, 59.3)}),
    _with_circular(METRICS[1], (44.0, 50, 31.2, 57.7), {"3": (36.0, 25, 20.2, 55.5), "1": (52.0, 25, 33.5, 69.9)}),
]


def test_circular_eval_is_reported_beside_plain_accuracy(tmp_path):
    summary = summarize("mmb", "abc123def456", CIRCULAR, QUOTAS, [0, 9])
    plain = summarize("mmb", "abc123def456", METRICS, QUOTAS, [0, 9])
    assert [{k: v for k, v in it.items() if k != "circular"} for it in summary["iterations"]] == plain["iterations"]
    assert [it["circular"] for it in summary["iterations"]] == [
        {"overall": 30.0, "per_type": {"Scene Understanding": 40.0, "Instance Attributes": 20.0}, "n_eval": 50},
        {"overall": 44.0, "per_type": {"Scene Understanding": 52.0, "Instance Attributes": 36.0}, "n_eval": 50},
    ]
    path = tmp_path / "summary.md"
    write_summary_md(summary, CIRCULAR, path)
    text = path.read_text(encoding="utf-8")
    plain_part, circular_part = text.split("## CircularEval")
    assert "| **overall** | **50.0** | **62.5** | **+12.5** | 55.6–68.9 |" in plain_part
    assert "over 50 questions, each asked once per rotation" in circular_part
    assert "| Scene Understanding | 40.0 | 52.0 | +12.0 | 33.5–69.9 |" in circular_part
    assert "| Instance Attributes | 20.0 | 36.0 | +16.0 | 20.2–55.5 |" in circular_part
    assert "| **overall** | **30.0** | **44.0** | **+14.0** | 31.2–57.7 |" in circular_part
    write_summary_md(plain, METRICS, path)
    assert "CircularEval" not in path.read_text(encoding="utf-8")


def test_summary_rejects_mismatched_lengths_and_missing_test_split():
    with pytest.raises(ValueError, match="2 metrics, 1 quotas and 2 sample counts"):
        summarize("demo", "x", METRICS, QUOTAS[:1], [0, 9])
    with pytest.raises(ValueError, match="iteration 0 lack splits/test"):
        summarize("demo", "x", [{"splits": {"dev": {}}}], [None], [0])


def test_config_hash_is_canonical_sha256_prefix():
    assert config_hash({"b": 1, "a": [1, 2]}) == config_hash({"a": [1, 2], "b": 1})
    assert config_hash({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()[:12]
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_summary_md_has_the_accuracy_quota_and_sample_tables(tmp_path):
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 9])
    path = tmp_path / "summary.md"
    write_summary_md(summary, METRICS, path)
    text = path.read_text(encoding="utf-8")
    assert "| type | iter 0 | iter 1 | change | 95 % CI |" in text
    assert "| Scene Understanding | 60.0 | 70.0 | +10.0 | 60.4–78.1 |" in text
    assert "| Instance Attributes | 40.0 | 55.0 | +15.0 | 45.2–64.4 |" in text
    assert "| **overall** | **50.0** | **62.5** | **+12.5** | 55.6–68.9 |" in text
    assert "| Instance Attributes | 6 |" in text
    assert "| 1 | 9 |" in text
    assert text.index("Scene Understanding") < text.index("Instance Attributes")  # type-table order


def test_summary_md_counts_rejections_by_reason_per_iteration(tmp_path):
    summary = summarize("demo", "abc123def456", METRICS, QUOTAS, [0, 9])
    rejected = [[{"reason": "contamination"}, {"reason": "wrong_answer"}, {"reason": "contamination"}]]
    path = tmp_path / "summary.md"
    write_summary_md(summary, METRICS, path, rejected=rejected)
    text = path.read_text(encoding="utf-8")
    assert "| reason | iter 1 |" in text
    assert "| contamination | 2 |" in text and "| wrong_answer | 1 |" in text
    write_summary_md(summary, METRICS, path, rejected=[[]])
    assert "Validation rejected nothing." in path.read_text(encoding="utf-8")


def test_accuracy_png_is_written(tmp_path):
    path = tmp_path / "accuracy.png"
    plot_accuracy(summarize("demo", "x", METRICS, QUOTAS, [0, 9]), path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 600 and image.height > 300
        assert len(set(image.convert("L").getdata())) > 10  # lines and text, not a blank canvas


def test_gallery_embeds_images_and_marks_the_correct_option(tmp_path):
    pool_dir = tmp_path / "pool"
    (pool_dir / "images").mkdir(parents=True)
    Image.new("RGB", (32, 32), (255, 0, 0)).save(pool_dir / "images" / "p1.png")

    def sample(n, qtype, instruction):
        return {
            "id": f"s{n}",
            "qtype": qtype,
            "image": "images/p1.png",
            "instruction": instruction,
            "options": ["red", "green", "blue", "grey"],
            "choice_answer": "C",
        }

    samples = [sample(0, 3, "What colour <is> it?"), sample(1, 3, "second of type 3"), sample(2, 3, "third")]
    samples.append(sample(3, 9, "What does the sign say?"))
    path = tmp_path / "gallery.html"
    write_gallery(samples, pool_dir, path, per_type=2)
    text = path.read_text(encoding="utf-8")
    assert "What colour &lt;is&gt; it?" in text and "second of type 3" in text
    assert "third" not in text  # two per type
    assert "What does the sign say?" in text
    assert "<h2>Instance Attributes</h2>" in text and "<h2>Text Understanding</h2>" in text
    assert text.count("data:image/png;base64,") == 3
    assert text.count('<li class="correct">blue &#10003;</li>') == 3


def test_gallery_names_a_missing_image(tmp_path):
    sample = {
        "id": "s9",
        "qtype": 1,
        "image": "images/none.png",
        "instruction": "?",
        "options": list("abcd"),
        "choice_answer": "A",
    }
    with pytest.raises(ValueError, match="none.png of sample 's9'"):
        write_gallery([sample], tmp_path, tmp_path / "g.html", per_type=1)

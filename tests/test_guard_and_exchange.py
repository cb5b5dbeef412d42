"""Contamination guard on planted duplicates; the paper's JSON in and out; LLaVA conversation export;
CLIP retrieval from a local folder with the pool cache."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataengine.data.contamination import CONTAMINATION, QuestionIndex, drop_near_duplicates, questions_checked
from dataengine.data.exchange import export_llava_json, export_paper_json, export_sharegpt_json, import_paper_json
from dataengine.sampling.embedding import cached, clip_encoder, embed_images, image_encoder, save_embeddings
from tests.real_fixtures import COLOURS, png

BENCHMARK = pl.DataFrame(
    {
        "id": ["b1", "b2"],
        "question": ["What is the man on the left holding in his hand?", "How many dogs are in the picture?"],
        "options": [["a cup", "a phone", "a book", "a pen"], ["1", "2", "3", "4"]],
    }
)


def sample(n, question, options):
    return {
        "instruction": question,
        "answer": options[0],
        "short_answer": options[0],
        "options": options,
        "choice_answer": "A",
        "image": f"images/p{n}.png",
        "qtype": 2,
        "id": f"s{n}",
        "iteration": 1,
        "teacher": "t",
        "prompt_version": "v",
        "query_id": f"q{n}",
        "source_id": f"p{n}",
    }


def test_near_duplicates_of_benchmark_items_are_dropped_with_the_item_named():
    samples = [
        sample(0, "What is the man on the left holding in his hand?", ["a pen", "a book", "a phone", "a cup"]),
        sample(1, "what is the man on the left holding in his hand", ["a cup", "a phone", "a book", "a pen"]),
        sample(2, "What is the woman on the right holding in her hand?", ["a cup", "a phone", "a book", "a pen"]),
        sample(3, "How many dogs are in the picture?", ["2", "3", "5", "6"]),
        sample(4, "How many cats sleep on the sofa?", ["1", "2", "3", "4"]),
    ]
    kept, rejected = drop_near_duplicates(samples, QuestionIndex.build(BENCHMARK), threshold=0.9)
    assert [s["id"] for s in kept] == ["s2", "s3", "s4"]  # other wording, other options, other question
    assert [r["query_id"] for r in rejected] == ["q0", "q1"]  # shuffled options and case/punctuation
    assert {r["reason"] for r in rejected} == {CONTAMINATION}
    assert rejected[0]["detail"] == "near-duplicate of benchmark item b1 (similarity 1.00)"
    assert json.loads(rejected[1]["content"])["id"] == "s1"
    kept, rejected = drop_near_duplicates(samples, QuestionIndex.build(BENCHMARK), threshold=0.4)  # q2: 8 of 20 shared
    assert [r["query_id"] for r in rejected] == ["q0", "q1", "q2", "q3"]


def test_question_check_modes():
    assert questions_checked("auto", "seedbench") and not questions_checked("auto", "synthetic")
    assert questions_checked("on", "synthetic") and not questions_checked("off", "mmbench")
    with pytest.raises(ValueError, match="contamination.questions"):
        questions_checked("yes", "mmbench")


def test_paper_json_import_accepts_the_misspelt_key_and_round_trips(tmp_path):
    rows = [
        {
            k: v
            for k, v in sample(n, f"Question {n}?", ["a", "b", "c", "d"]).items()
            if k in ("instruction", "answer", "short_answer", "options", "image", "qtype")
        }
        for n in range(2)
    ]
    rows[0]["choide_answer"], rows[1]["choice_answer"] = "A", "B"
    (tmp_path / "paper.json").write_text(json.dumps(rows))
    samples = import_paper_json(tmp_path / "paper.json")
    assert [s["choice_answer"] for s in samples] == ["A", "B"]
    assert samples[0]["id"] == "paper-release-0000000" and samples[0]["teacher"] == "paper-release"
    export_paper_json(samples, tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text())
    fixed = {"choide_answer": "choice_answer"}
    assert exported == [{fixed.get(k, k): v for k, v in r.items()} for r in rows]
    rows[1]["options"] = ["a", "b"]
    (tmp_path / "paper.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"row 1: options: .* is too short"):
        import_paper_json(tmp_path / "paper.json")


def test_llava_conversation_export(tmp_path):
    samples = [sample(0, "What colour?", ["red", "blue", "green", "pink"])]
    export_llava_json(samples, tmp_path / "llava.json")
    (record,) = json.loads((tmp_path / "llava.json").read_text())
    assert record["id"] == "s0" and record["image"] == "images/p0.png"
    human, gpt = record["conversations"]
    assert human["from"] == "human" and human["value"].startswith("<image>\nWhat colour?\nA. red\nB. blue")
    assert gpt == {"from": "gpt", "value": "A"}
    export_llava_json(samples, tmp_path / "free.json", view="free")
    assert json.loads((tmp_path / "free.json").read_text())[0]["conversations"][1]["value"] == "red"


def test_sharegpt_export_as_llama_factory_reads_it(tmp_path):
    samples = [sample(0, "What colour?", ["red", "blue", "green", "pink"])]
    export_sharegpt_json(samples, tmp_path / "sharegpt.json", image_prefix="pool/")
    (record,) = json.loads((tmp_path / "sharegpt.json").read_text())
    user, assistant = record["messages"]
    assert user["role"] == "user" and user["content"].startswith("<image>\nWhat colour?\nA. red\nB. blue")
    assert assistant == {"role": "assistant", "content": "A"} and record["images"] == ["pool/images/p0.png"]
    export_sharegpt_json(samples, tmp_path / "free.json", view="free")
    assert json.loads((tmp_path / "free.json").read_text())[0]["messages"][1]["content"] == "red"


def test_clip_retrieval_from_a_local_folder_and_the_pool_cache(tmp_path, tiny_clip):
    (tmp_path / "pool" / "images").mkdir(parents=True)
    images = [f"images/{c}.png" for c in COLOURS[:4]]
    for image, colour in zip(images, COLOURS):
        (tmp_path / "pool" / image).write_bytes(png(colour, (16, 16)))
    encoder = image_encoder({"encoder": "clip", "model": str(tiny_clip), "batch_size": 3})
    paths = [tmp_path / "pool" / image for image in images]
    vectors = encoder(paths)
    assert vectors.shape == (4, 12) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(clip_encoder(tiny_clip, batch_size=4)(paths), vectors, atol=1e-5)  # batching is invisible
    save_embeddings(tmp_path / "pool" / "embeddings.npz", images, vectors)
    calls = []
    lookup = cached(
        lambda ps: calls.append(list(ps)) or encoder(ps), tmp_path / "pool" / "embeddings.npz", tmp_path / "pool"
    )
    anchor = tmp_path / "anchor.png"
    anchor.write_bytes(png("red", (16, 16)))
    rows = lookup([paths[2], anchor, paths[0]])
    assert calls == [[anchor]]  # only the image outside the pool is computed
    assert np.allclose(rows[[0, 2]], vectors[[2, 0]]) and np.allclose(rows[1], vectors[0], atol=1e-5)
    with pytest.raises(ValueError, match="retrieval.model"):
        image_encoder({"encoder": "clip"})
    assert image_encoder({"encoder": "offline"}) is embed_images


def test_cli_imports_the_release_and_exports_llava_json(tmp_path):
    rows = [
        {
            k: v
            for k, v in sample(n, f"Question {n}?", ["a", "b", "c", "d"]).items()
            if k in ("instruction", "answer", "short_answer", "options", "image", "qtype")
        }
        for n in range(3)
    ]
    for row in rows:
        row["choide_answer"] = "C"
    (tmp_path / "paper.json").write_text(json.dumps(rows))
    cli = [str(Path(sys.executable).parent / "dataengine"), "data"]
    imported = subprocess.run(
        [*cli, "import", str(tmp_path / "paper.json"), "--out", str(tmp_path / "accepted.jsonl")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "3 samples" in imported.stdout
    subprocess.run(
        [*cli, "export", str(tmp_path / "accepted.jsonl"), "--format", "llava", "--out", str(tmp_path / "llava.json")],
        check=True,
    )
    records = json.loads((tmp_path / "llava.json").read_text())
    assert [r["conversations"][1]["value"] for r in records] == ["C", "C", "C"]
    bad = subprocess.run(
        [*cli, "import", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.jsonl")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "missing.json" in bad.stderr

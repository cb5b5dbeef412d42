"""The 7B experiment's code path on a tiny random LLaVA saved to disk: local loading, LLaVA-1.5's chat
template, LoRA with the paper's recipe shape (epochs, cosine, warm-up, gradient checkpointing), adapter
and merged outputs, letter scoring and generation with choice extraction (LLM fall-back counted)."""

import json
import stat

import polars as pl
import pytest

from dataengine import pipeline
from dataengine.core.formats import lettered_prompt
from dataengine.core.jsonl import write_jsonl
from dataengine.data.benchmark import write_items
from dataengine.eval.evaluate import extract_choice
from dataengine.model.families import FAMILIES
from dataengine.model.families.llava import LLAVA_15_CHAT_TEMPLATE
from dataengine.model.student import build_tiny_student, load_student, save_student
from tests.tiny import CORPUS, IMAGE_SIZE, TINY_ARCH, colour_images, colour_sample


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A tiny random LLaVA with LLaVA-1.5's chat template, saved as an HF folder (the 7B's stand-in)."""
    root = tmp_path_factory.mktemp("llava")
    model, processor = build_tiny_student([*CORPUS, "USER: ASSISTANT:"], TINY_ARCH, IMAGE_SIZE, seed=0)
    processor.chat_template = LLAVA_15_CHAT_TEMPLATE
    save_student(model, processor, root / "llava-1.5-7b-hf")
    return root / "llava-1.5-7b-hf"


def test_the_chat_template_wraps_every_prompt(stand_in):
    _, processor = load_student(stand_in)
    prompt = lettered_prompt("What colour is the picture?", ["red", "green", "blue", "yellow"])
    llava = FAMILIES["llava"]
    assert llava.prompt(processor, prompt) == "USER: " + prompt + " ASSISTANT:"
    _, bare = build_tiny_student(CORPUS, TINY_ARCH, IMAGE_SIZE, seed=0)
    assert llava.prompt(bare, prompt) == prompt  # no template: the tiny student's bare prompts


def test_extraction_rules_in_order_and_the_llm_fall_back():
    options = ["red", "green", "blue", "yellow"]
    asked = []

    def llm(question, opts, reply):
        asked.append(reply)
        return "C"

    assert extract_choice("B.", options, "q", llm) == ("B", "letter")
    assert extract_choice("It is green.", options, "q", llm) == ("B", "option_text")
    assert extract_choice("the third one", options, "q", llm) == ("C", "llm")
    assert extract_choice("the third one", options) == (None, "none")
    assert asked == ["the third one"]  # the LLM is asked only when the rules fail


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])  # bfloat16: the 7B config's dtype (it crashed once)
def test_lora_epoch_training_letter_scoring_and_generation(stand_in, tmp_path, dtype):
    (tmp_path / "pool").mkdir()
    paths = colour_images(tmp_path / "pool")
    samples = [colour_sample(colour, image) | {"id": f"s{n}"} for n, (colour, image) in enumerate(paths.items())]
    write_jsonl(tmp_path / "accepted.jsonl", samples)
    cfg = {
        "method": "lora",
        "epochs": 1,
        "steps": 999,
        "batch_size": 4,
        "lr": 1e-4,
        "warmup_ratio": 0.03,
        "weight_decay": 0.0,
        "gradient_checkpointing": True,
        "views": ["free", "lettered", "shuffled"],
        "replay": 0,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    }
    out = tmp_path / "iter_1" / "model"
    pipeline.train(
        str(stand_in),
        str(tmp_path / "accepted.jsonl"),
        [],
        str(tmp_path / "pool" / "images"),
        str(out),
        iteration=1,
        cfg=cfg,
        seed=0,
        threads=1,
        dtype=dtype,
    )
    log = json.loads((out / "train_log.json").read_text())
    assert log["records"] == 12 and log["steps"] == 3  # one epoch of 4 samples x 3 views, batches of 4
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and adapter["lora_alpha"] == 16
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (out / "adapter").iterdir()}
    assert set(modes.values()) == {modes["adapter_config.json"]}  # the weights too, not 0600
    merged, processor = load_student(out)
    assert processor.chat_template == LLAVA_15_CHAT_TEMPLATE
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert not (out.parent / "model.adapter").exists() and not (out.parent / "model.ckpt").exists()

    bench = tmp_path / "bench"
    bench.mkdir()
    colour_images(bench)
    rows = [
        {
            "id": f"b{n}",
            "image": image,
            "qtype": 3,
            "question": "What colour is the picture?",
            "options": ["red", "green", "blue", "yellow"],
            "answer": "ABCD"[n],
            "split": ["dev", "test"][n % 2],
            "group": n // 2,
        }
        for n, image in enumerate(paths.values())
    ]
    write_items(bench, rows)
    for scoring in ("letter", "generate"):
        pipeline.evaluate(
            str(out),
            str(bench / "items.parquet"),
            str(tmp_path / f"{scoring}.parquet"),
            str(tmp_path / f"{scoring}.json"),
            str(tmp_path / f"{scoring}.jsonl"),
            scoring,
            batch_size=3,
            threads=1,
            dtype=dtype,
        )
        metrics = json.loads((tmp_path / f"{scoring}.json").read_text())
        predictions = pl.read_parquet(tmp_path / f"{scoring}.parquet")
        assert predictions["group"].to_list() == [0, 0, 1, 1] and predictions.height == 4
        assert metrics["splits"]["test"]["circular"]["overall"]["n"] == 2
    assert sum(metrics["extraction"].values()) == 4
    assert set(metrics["extraction"]) <= {"letter", "option_text", "none"}

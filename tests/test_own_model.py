"""Bring your own model: a tiny Qwen2-VL written outside the project (transformers' config classes, a
character-level tokenizer of its own, Qwen's ChatML template with its system turn, saved as an HF folder)
runs an iteration of the loop through Snakemake as `student.base: <folder>`, and `dataengine evaluate`
gives batched scores equal to `--reference`, which equal a plain forward of the rendered prompt."""

import contextlib
import json
import string
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

from dataengine import cli
from dataengine.data.benchmark import load_items
from tests.conftest import CONFIGS, snakemake

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|image_pad|>",
    "<|vision_end|>",
    "<|video_pad|>",
]
TEMPLATE = (  # Qwen2-VL's own: a default system turn, ChatML, the image between vision markers
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<|vision_start|><|image_pad|>"
    "<|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_qwen2_vl(folder: Path) -> Path:
    """A random Qwen2-VL of a few hundred thousand weights: one token per character, 112-px images at most."""
    vocab = {token: i for i, token in enumerate([*SPECIALS, *string.printable])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    pixels = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessorPil(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(**pixels),
        chat_template=TEMPLATE,
    )
    ids = {
        name: vocab[token]
        for name, token in [
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        ]
    }
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "initializer_range": 0.2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "pad_token_id": vocab["<|endoftext|>"],
            "eos_token_id": vocab["<|im_end|>"],
            "bos_token_id": None,
        },
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 4, "mlp_ratio": 2},
        **ids,
    )
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = (
        config.text_config.pad_token_id,
        vocab["<|im_end|>"],
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """One iteration of the loop (LoRA on the language model, the vision tower frozen, letter scoring)
    with the outside Qwen2-VL as the student."""
    root = tmp_path_factory.mktemp("own-model")
    model = write_qwen2_vl(root / "models" / "tiny-qwen2-vl")
    overlay = root / "own.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "run": "own",
                "iterations": 1,
                "student": {"base": str(model), "scoring": "letter"},
                "train": {
                    "method": "lora",
                    "vision_tower": "frozen",
                    "steps": 4,
                    "batch_size": 8,
                    "replay": 0,
                    "views": ["free", "lettered"],
                    "lora": {"r": 4, "alpha": 8},
                },
            }
        )
    )
    done = snakemake(root, "--cores", "2", configfiles=[CONFIGS / "small.yaml", overlay], timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    return root, model


@pytest.mark.slow
def test_an_outside_qwen2_vl_runs_an_iteration_of_the_loop(loop):
    root, _ = loop
    run = root / "results" / "own"
    log = json.loads((run / "iter_1" / "model" / "train_log.json").read_text())
    assert log["method"] == "lora" and log["new_samples"] > 0 and log["steps"] == 4
    assert json.loads((run / "iter_1" / "model" / "config.json").read_text())["model_type"] == "qwen2_vl"
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert [entry["iteration"] for entry in summary["iterations"]] == [0, 1]
    assert all(0 <= entry["overall"] <= 100 for entry in summary["iterations"])


@pytest.mark.slow
@pytest.mark.parametrize("scorer", ["letter", "option_text"])
def test_dataengine_evaluate_batched_equals_the_reference_and_a_plain_forward(loop, scorer):
    root, _ = loop
    model, benchmark = root / "results" / "own" / "iter_1" / "model", root / "results" / "own" / "benchmark"
    lines = {}
    for mode in ("batched", "reference"):
        out = root / f"{scorer}-{mode}.jsonl"
        command = [
            "evaluate",
            "--model",
            str(model),
            "--benchmark",
            str(benchmark),
            "--scorer",
            scorer,
            "--batch-size",
            "7",
            "--out",
            str(out),
        ]
        cli.main(command + ["--reference"] * (mode == "reference"))  # in-process: torch is imported already
        lines[mode] = [json.loads(line) for line in out.read_text().splitlines()]
    items = load_items(benchmark / "items.parquet")
    assert (
        [line["id"] for line in lines["batched"]]
        == items["id"].to_list()
        == [line["id"] for line in lines["reference"]]
    )
    for batched, alone in zip(lines["batched"], lines["reference"]):
        assert batched["prompt"] == alone["prompt"] and batched["prediction"] == alone["prediction"]
        assert batched["scores"] == pytest.approx(alone["scores"], abs=1e-4)

    first = lines["reference"][0]
    assert first["prompt"].startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    if scorer == "letter":  # the reference is a plain forward of the rendered prompt with the item's image
        from dataengine.model.student import load_student

        student, processor = load_student(model)
        image = Image.open(benchmark / items["image"][0]).convert("RGB")
        with torch.inference_mode():
            logits = student(**processor(text=first["prompt"], images=image, return_tensors="pt")).logits[0, -1]
        letters = [processor.tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
        assert first["scores"] == pytest.approx(logits.log_softmax(-1)[letters].tolist(), abs=1e-5)


def test_doctor_checks_the_folders_family_processor_and_lora_names(tmp_path, monkeypatch, capsys):
    model = write_qwen2_vl(tmp_path / "tiny-qwen2-vl")
    overlay = tmp_path / "own.yaml"
    monkeypatch.chdir(tmp_path)

    def doctor(**student_and_train) -> str:
        """`dataengine doctor`'s report, run in-process (torch is imported already)."""
        config = {
            "student": {"base": str(model), **student_and_train.get("student", {})},
            "train": {"method": "lora", "vision_tower": "frozen", **student_and_train.get("train", {})},
        }
        overlay.write_text(yaml.safe_dump(config))
        with contextlib.suppress(SystemExit):  # it exits 1 when it finds an error
            cli.main(["doctor", "--configfile", str(overlay)])
        return capsys.readouterr().out

    assert "ok      student.base: a Qwen2-VL model (qwen2_vl); its processor loads, train fits it" in doctor()
    assert "error   student.base: student.family is 'gemma3', but" in doctor(student={"family": "gemma3"})
    wrong = doctor(train={"lora": {"target_modules": ["q_proj", "c_attn"]}})
    assert "error   student.base: train.lora.target_modules: 'c_attn' names no linear layer of Qwen2-VL's" in wrong


@pytest.mark.slow
def test_the_offline_loop_with_a_tiny_qwen2_vl(tmp_path):
    """config/experiments/tiny-qwen2vl.yaml on the small test loop, one iteration: the base model is a
    tiny Qwen2-VL built from its config classes, trained on captions and the seed set, then the loop."""
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump({"iterations": 1}))
    configs = [CONFIGS / "small.yaml", CONFIGS.parent.parent / "config" / "experiments" / "tiny-qwen2vl.yaml", one]
    done = snakemake(tmp_path, "--cores", "2", configfiles=configs, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    run = tmp_path / "results" / "tiny-qwen2vl"
    for model in ("iter_0/model", "iter_1/model"):
        assert json.loads((run / model / "config.json").read_text())["model_type"] == "qwen2_vl"
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert [entry["iteration"] for entry in summary["iterations"]] == [0, 1]

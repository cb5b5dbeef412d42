"""Training views, config, and fine-tuning (full and LoRA) of the tiny student."""

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import PeftModel
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from dataengine.core import joblog
from dataengine.core.formats import LETTER_INSTRUCTION, SAMPLE_LETTERS, lettered_prompt, question_prompt
from dataengine.model.families import FAMILIES
from dataengine.model.student import load_student, save_student
from dataengine.model.trainable import param_groups, with_lora
from dataengine.train.records import VIEWS, TrainRecord, sample_views
from dataengine.train.training import (
    AUTO_CHECKPOINTING_SHARE,
    LoraSettings,
    TrainConfig,
    fine_tune,
    length_grouped,
    training_peak_bytes,
)
from tests.tiny import COLOUR_QUESTION, COLOURS, colour_images, colour_sample, tiny_student

SAMPLE = {
    "instruction": "How many squares are there?",
    "answer": "There are three squares.",
    "short_answer": "three",
    "options": ["one", "two", "three", "four"],
    "choice_answer": "C",
    "image": "images/p1.png",
    "qtype": 5,
}


def shown_options(prompt: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-D])\. (.*)$", prompt, flags=re.MULTILINE))


def test_views_of_a_sample(tmp_path):
    free, lettered, shuffled = sample_views(SAMPLE, tmp_path, VIEWS, np.random.default_rng(0))
    assert free == TrainRecord(tmp_path / "images/p1.png", question_prompt(SAMPLE["instruction"]), "three")
    assert lettered.prompt == lettered_prompt(SAMPLE["instruction"], SAMPLE["options"])
    assert lettered.prompt.endswith(LETTER_INSTRUCTION) and lettered.target == "C"
    assert shown_options(lettered.prompt)["C"] == "three"
    assert shown_options(shuffled.prompt)[shuffled.target] == "three"
    assert sorted(shown_options(shuffled.prompt).values()) == sorted(SAMPLE["options"])


def test_shuffled_view_moves_the_answer_with_the_rng(tmp_path):
    rng = np.random.default_rng(1)
    letters = [sample_views(SAMPLE, tmp_path, ["shuffled"], rng)[0].target for _ in range(40)]
    assert set(letters) == set(SAMPLE_LETTERS)
    assert sample_views(SAMPLE, tmp_path, ["shuffled"], np.random.default_rng(1))[0].target == letters[0]


def test_views_reject_bad_samples(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(KeyError, match="short_answer"):
        sample_views({k: v for k, v in SAMPLE.items() if k != "short_answer"}, tmp_path, VIEWS, rng)
    with pytest.raises(ValueError, match="options"):
        sample_views(SAMPLE | {"options": ["one", "two"]}, tmp_path, VIEWS, rng)
    with pytest.raises(ValueError, match="caption"):
        sample_views(SAMPLE, tmp_path, ["caption"], rng)


def test_train_config_from_a_config_mapping():
    cfg = TrainConfig.from_config({"method": "lora", "steps": 5, "lora": {"r": 4, "target_modules": ["q_proj"]}})
    assert cfg.method == "lora" and cfg.steps == 5 and cfg.batch_size == TrainConfig().batch_size
    assert cfg.lora == LoraSettings(r=4, target_modules=("q_proj",))
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_config({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="rank"):
        TrainConfig.from_config({"lora": {"rank": 4}})
    with pytest.raises(ValueError, match="qlora"):
        TrainConfig.from_config({"method": "qlora"})


def test_gradient_checkpointing_is_true_false_or_auto():
    assert TrainConfig.from_config({"gradient_checkpointing": "auto"}).gradient_checkpointing == "auto"
    with pytest.raises(ValueError, match="gradient_checkpointing"):
        TrainConfig.from_config({"gradient_checkpointing": "sometimes"})


def test_peak_memory_estimate_of_the_7b_lora_run_matches_the_h200_measurement():
    """LLaVA-1.5-7B's shape (on the meta device: no memory), bfloat16, LoRA r 128, batch 16 of ~613
    tokens: 114 GiB peak was measured on an H200 without checkpointing (docs/gpu.md)."""
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            image_size=336,
            patch_size=14,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            projection_dim=768,
        ),
        text_config=LlamaConfig(
            vocab_size=32064,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=32,
        ),
    )
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(7.063e9, rel=1e-3)
    lora = TrainConfig(method="lora", batch_size=16, lora=LoraSettings(r=128, alpha=256))
    peak = training_peak_bytes(model, 16 * 613, lora)
    assert peak / 2**30 == pytest.approx(114, rel=0.05)
    # "auto": activations kept on an H200 (139.8 GiB; measured 1.5x faster so), recomputed on an 80 GB H100
    assert AUTO_CHECKPOINTING_SHARE * 139.8 * 2**30 > peak > AUTO_CHECKPOINTING_SHARE * 79.6 * 2**30
    # full fine-tuning trains (and keeps gradients and AdamW moments of) every weight
    assert training_peak_bytes(model, 16 * 613, TrainConfig(method="full")) > 4 * 7.06e9 * 2


def colour_records(root) -> list[TrainRecord]:
    """Free-answer records 'what colour' -> colour for solid-colour images: learnable in a few steps."""
    paths = colour_images(root)
    rng = np.random.default_rng(0)
    return [r for c in COLOURS for r in sample_views(colour_sample(c, paths[c]), root, ["free"], rng)]


FAST = TrainConfig(steps=40, batch_size=16, lr=1e-2, warmup_ratio=0.1, log_every=5, vision_tower="full")


def test_length_grouping_batches_alike_records_from_the_same_draws():
    """Every eight batches of the drawn order are sorted by (image or none, size in 32-character buckets)
    and cut again: a batch spans at most two kinds, where drawn at random it spans four or more; a
    batch's records of one kind come in their drawn order; the batches come in a seeded order."""
    records = [TrainRecord(Path("i.png") if i % 2 else None, "q" * (10 + 40 * (i % 3)), "a") for i in range(96)]
    kind = [(record.image is not None, record.size[1] // 32) for record in records]
    order = torch.randperm(96, generator=torch.Generator().manual_seed(0))  # 12 batches of 8
    grouped = length_grouped(order, records, 8, torch.Generator().manual_seed(1))
    drawn_at = {row: position for position, row in enumerate(order.tolist())}
    for window in (slice(0, 64), slice(64, 96)):  # a window of eight batches, then the last four
        assert sorted(grouped[window].tolist()) == sorted(order[window].tolist())
    for batch in grouped.view(-1, 8).tolist():
        assert len({kind[row] for row in batch}) <= 2
        for each in {kind[row] for row in batch}:
            alike = [drawn_at[row] for row in batch if kind[row] == each]
            assert alike == sorted(alike)
    assert min(len({kind[row] for row in batch}) for batch in order.view(-1, 8).tolist()) >= 4
    assert torch.equal(grouped, length_grouped(order, records, 8, torch.Generator().manual_seed(1)))
    assert not torch.equal(grouped, length_grouped(order, records, 8, torch.Generator().manual_seed(2)))


def test_full_fine_tune_learns_the_colour_and_logs(tmp_path):
    model, processor = tiny_student()
    model, log = fine_tune(model, processor, colour_records(tmp_path), FAST, seed=0)
    losses = [row["loss"] for row in log["loss"]]
    assert [row["step"] for row in log["loss"]] == list(range(5, 41, 5))
    assert losses[-1] < 0.1 < 1.0 < losses[0]  # from chance over the vocabulary to (nearly) right
    assert log["samples_seen"] == 640 and log["samples_per_s"] > 0
    assert not model.training


def test_training_without_a_terminal_logs_its_steps_loss_and_time_left(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(joblog, "LOG_EVERY_S", 0.0)  # a line per step instead of one per 30 s
    model, processor = tiny_student()
    with caplog.at_level(logging.INFO, logger="dataengine"):
        fine_tune(model, processor, colour_records(tmp_path), FAST, seed=0)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("train (full)")]
    assert re.search(r"\b40/40 \[[0-9:]+<00:00, .*loss=\d\.\d{4}", lines[-1]), lines[-1]  # count, time left, loss
    assert sum("loss=" in line for line in lines) >= 30


@pytest.mark.parametrize("method, vision_tower", [("full", "frozen"), ("full", "full"), ("lora", "frozen")])
def test_fine_tune_saves_a_plain_loadable_hf_folder(tmp_path, method, vision_tower):
    model, processor = tiny_student()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(method=method, steps=4, batch_size=4, log_every=2, vision_tower=vision_tower)
    model, log = fine_tune(model, processor, colour_records(tmp_path), cfg, seed=0)
    assert not isinstance(model, PeftModel)
    assert model.state_dict().keys() == before.keys()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    language = {k for k in changed if "language_model" in k or "multi_modal_projector" in k or "lm_head" in k}
    if method == "lora":  # only the adapted linear layers of the LM and projector move
        assert language and changed == language
        assert all(k.endswith("weight") for k in changed)
    elif vision_tower == "full":
        assert changed - language  # the vision tower trains too
    else:
        assert language and changed == language  # the vision tower stays as it was
    folder = save_student(model, processor, tmp_path / "model", train_log=log)
    reloaded, _ = load_student(folder)
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


def test_lora_with_the_projector_in_full_trains_it_at_its_own_lr(tmp_path):
    """LLaVA-1.5's LoRA recipe: adapters on the LLM, the projector's own weights at mm_projector_lr."""
    model, processor = tiny_student()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(
        method="lora",
        steps=4,
        batch_size=4,
        lr=1e-3,
        projector_lr=2e-5,
        log_every=2,
        lora=LoraSettings(r=4, alpha=8, projector="full"),
    )
    family = FAMILIES["llava"]
    trained = with_lora(tiny_student()[0], family, cfg)
    names = [name for name, p in trained.named_parameters() if p.requires_grad]
    assert not any("lora_" in name for name in names if "multi_modal_projector" in name)
    assert any("multi_modal_projector" in name and "lora_" not in name for name in names)
    groups = param_groups(trained, family, cfg)
    projector = {id(p) for name, p in trained.named_parameters() if "multi_modal_projector" in name and p.requires_grad}
    assert {(g["lr"], all(id(p) in projector for p in g["params"])) for g in groups} == {(1e-3, False), (2e-5, True)}

    model, _ = fine_tune(model, processor, colour_records(tmp_path), cfg, seed=0)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {
        "model.multi_modal_projector.linear_1.bias",
        "model.multi_modal_projector.linear_2.bias",
    } <= changed  # in full
    assert all("language_model" in k or "multi_modal_projector" in k for k in changed)


def test_same_seed_same_weights_and_callers_rng_untouched(tmp_path):
    records = colour_records(tmp_path)
    cfg = TrainConfig(method="lora", steps=3, batch_size=4, log_every=1)  # LoRA dropout draws randoms
    students = [tiny_student() for _ in range(3)]
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, _ = fine_tune(*students[0], records, cfg, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    second, _ = fine_tune(*students[1], records, cfg, seed=7)
    other, _ = fine_tune(*students[2], records, cfg, seed=8)
    weights = [m.state_dict() for m in (first, second, other)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_fine_tune_needs_records():
    with pytest.raises(ValueError, match="no training records"):
        fine_tune(*tiny_student(), [], FAST, seed=0)


def test_a_missing_image_is_named(tmp_path):
    missing = TrainRecord(tmp_path / "images/none.png", question_prompt(COLOUR_QUESTION), "red")
    with pytest.raises(FileNotFoundError, match="none.png"):
        fine_tune(*tiny_student(), [*colour_records(tmp_path), missing], FAST, seed=0)

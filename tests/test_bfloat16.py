"""Every place a real model runs, in bfloat16 (a 7B model's dtype on a GPU) on the CPU, so that a dtype
bug fails CI without a GPU: the three scorers and the choice extractor, full and LoRA training with
the merge, save and load, and the CLIP pool embeddings."""

import numpy as np
import pytest
import torch

from dataengine.eval.evaluate import score_items
from dataengine.model.student import load_student, save_student
from dataengine.sampling.embedding import clip_encoder
from dataengine.train.records import sample_views
from dataengine.train.training import TrainConfig, fine_tune
from tests.real_fixtures import png
from tests.tiny import COLOURS, colour_images, colour_sample, tiny_student, trained_colour_student


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The colour-trained student saved in float32, and its benchmark items."""
    root = tmp_path_factory.mktemp("bf16")
    model, processor, items = trained_colour_student(root)
    save_student(model, processor, root / "model")
    return root, items


@pytest.mark.parametrize("method", ["option_text", "letter"])
def test_likelihood_scorers_in_bfloat16_agree_with_float32(saved, method):
    root, items = saved
    scores = {}
    for dtype in ("float32", "bfloat16"):
        model, processor = load_student(root / "model", dtype=dtype)
        assert model.dtype == getattr(torch, dtype)
        scores[dtype] = score_items(model, processor, items, root, method, batch_size=3)
    full, half = scores["float32"], scores["bfloat16"]
    assert half["prediction"].to_list() == full["prediction"].to_list()
    if method == "option_text":  # what the colour student was trained to answer
        assert half["correct"].all()
    for a, b in zip(full["scores"].to_list(), half["scores"].to_list()):
        assert np.all(np.isfinite(b)) and b == pytest.approx(a, abs=0.15)  # bfloat16 keeps ~3 digits


def test_generation_and_the_choice_extractor_in_bfloat16(saved):
    """An untrained student's replies cannot be read by the rules: each goes to the extractor."""
    root, items = saved
    save_student(*tiny_student(seed=1), root / "untrained")
    model, processor = load_student(root / "untrained", dtype="bfloat16")
    asked = []

    def extractor(question, options, reply):
        asked.append(reply)
        return "B"

    predictions = score_items(model, processor, items, root, "generate", batch_size=3, extractor=extractor)
    assert predictions.height == items.height
    counts = dict(predictions["extraction"].value_counts().iter_rows())
    assert counts.get("llm", 0) == len(asked) and sum(counts.values()) == items.height
    read_by_llm = predictions.filter(predictions["extraction"] == "llm")
    assert (read_by_llm["prediction"] == "B").all()


@pytest.mark.parametrize("method", ["full", "lora"])
def test_training_in_bfloat16_tracks_float32_merges_saves_and_loads(tmp_path, method):
    paths = colour_images(tmp_path)
    rng = np.random.default_rng(0)
    records = [
        r for c in COLOURS for r in sample_views(colour_sample(c, paths[c]), tmp_path, ["free", "lettered"], rng)
    ]
    save_student(*tiny_student(), tmp_path / "base")
    cfg = TrainConfig(method=method, steps=30, batch_size=8, lr=3e-3 if method == "full" else 1e-2, log_every=10)
    float32_linear_outputs = []  # in a bfloat16 model, the float32 linear layers are LoRA's adapters

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Linear) and module.weight.dtype == torch.float32:
            float32_linear_outputs.append(output.dtype)

    model, processor = load_student(tmp_path / "base", dtype="float32")
    _, float32_log = fine_tune(model, processor, records, cfg, seed=0)
    model, processor = load_student(tmp_path / "base", dtype="bfloat16")
    with torch.nn.modules.module.register_module_forward_hook(record):
        trained, log = fine_tune(model, processor, records, cfg, seed=0)
    expected, losses = [row["loss"] for row in float32_log["loss"]], [row["loss"] for row in log["loss"]]
    assert expected[-1] < 0.9 * expected[0]
    # The same run to bfloat16's precision: LoRA keeps float32 adapters; full fine-tuning updates
    # bfloat16 weights (as torchtune's recipes do), which rounds away part of each small step.
    assert losses == pytest.approx(expected, rel=0.02 if method == "lora" else 0.1)
    assert all(p.dtype == torch.bfloat16 for p in trained.parameters())
    assert not any("lora" in name for name, _ in trained.named_parameters())
    if method == "lora":  # float32 adapters (peft's default) multiply in bfloat16 under autocast, as on a GPU
        assert float32_linear_outputs and set(float32_linear_outputs) == {torch.bfloat16}
    save_student(trained, processor, tmp_path / "trained")
    reloaded, _ = load_student(tmp_path / "trained", dtype="bfloat16")
    inputs = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    with torch.inference_mode():
        assert torch.equal(trained.eval()(**inputs).logits, reloaded(**inputs).logits)


def test_clip_pool_embeddings_in_bfloat16(tmp_path, tiny_clip):
    (tmp_path / "images").mkdir()
    paths = []
    for colour in COLOURS:
        paths.append(tmp_path / "images" / f"{colour}.png")
        paths[-1].write_bytes(png(colour, (16, 16)))
    full = clip_encoder(tiny_clip, batch_size=3)(paths)
    half = clip_encoder(tiny_clip, batch_size=3, dtype="bfloat16")(paths)
    assert half.dtype == np.float32 and np.allclose(np.linalg.norm(half, axis=1), 1, atol=1e-5)
    assert np.all(np.sum(full * half, axis=1) > 0.99)  # cosine similarity to the float32 embeddings

"""bench/gpu.py runs the project's own evaluation and training code; here on the CPU with a tiny
model (the GPU's 7B-shaped stand-in is checked for its size on the meta device), so it cannot rot."""

import importlib.util
import json
import sys

import pytest
import torch

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import gpu  # noqa: E402 (bench/ is no package)

NEEDS_TORCHVISION = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None, reason="Qwen2.5-VL's processor needs torchvision"
)
KEYS = (
    "device",
    "letter_items_per_s",
    "generate_items_per_s",
    "naive_items_per_s",
    "lora_samples_per_s",
    "peak_gib",
    "mfu",
    "save_s",
    "load_s",
)


@NEEDS_TORCHVISION
def test_the_7b_stand_ins_have_the_real_models_sizes():
    model, processor = gpu.stand_in("llava", "7b", "meta")
    assert sum(p.numel() for p in model.parameters()) == 7_063_427_072  # as measured on the H200
    assert model.dtype == torch.bfloat16 and model.config.text_config.vocab_size == 32064
    assert processor.image_processor.crop_size == {"height": 336, "width": 336}
    assert processor.chat_template.endswith("{{ 'ASSISTANT:' }}{% endif %}")
    model, processor = gpu.stand_in("qwen2_5_vl", "7b", "meta")
    assert sum(p.numel() for p in model.parameters()) == 8_292_166_656  # Qwen2.5-VL-7B-Instruct's safetensors
    text = model.config.text_config
    assert (text.vocab_size, text.num_key_value_heads, model.config.vision_config.patch_size) == (152064, 4, 14)


@pytest.mark.parametrize("family", ["llava", pytest.param("qwen2_5_vl", marks=NEEDS_TORCHVISION)])
def test_the_benchmark_runs_the_whole_path_on_a_tiny_model(tmp_path, family):
    out = tmp_path / "gpu.json"
    args = [
        "--family",
        family,
        "--shape",
        "tiny",
        "--images",
        "24",
        "--questions-per-image",
        "2",
        "--generate-items",
        "8",
        "--naive-items",
        "4",
        "--train-samples",
        "16",
        "--loader-workers",
        "1",
        "--out",
        str(out),
    ]
    assert gpu.main(args) == 0  # in-process: torch is imported already
    result = json.loads(out.read_text())
    assert set(KEYS) <= set(result) and result["device"] == "cpu" and result["questions_per_image"] == 2
    assert result["family"] == family
    for key in ("letter_items_per_s", "generate_items_per_s", "naive_items_per_s", "lora_samples_per_s", "load_s"):
        assert result[key] > 0, key
    assert result["gradient_checkpointing"] is False  # "auto" on a CPU
    assert len(result["loss"]) >= 1 and all(loss > 0 for loss in result["loss"])

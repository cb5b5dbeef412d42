"""Every supported family through the one seam, on a tiny random student of each built from its config
classes: every scorer in batches equal to the reference (each item alone, a plain forward) in float32
and bfloat16, with images of different sizes in one batch and whatever items share a batch; training
in full and with LoRA on each part, merged, saved and loaded back. Mutants that hand Qwen-VL 1-D
positions, or continue a cached prefix at the wrong positions, fail."""

import importlib.util

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from dataengine.eval.evaluate import score_items
from dataengine.eval.reference import reference_scores
from dataengine.model.families import FAMILIES, Family, UnsupportedFamily, family_of, family_of_folder
from dataengine.model.families.qwen_vl import Qwen2VL
from dataengine.model.student import build_tiny_student, check_family, load_student, save_student
from dataengine.train.records import TrainRecord
from dataengine.train.training import LoraSettings, TrainConfig, fine_tune
from tests.tiny import TINY_ARCH

ARCH = {**TINY_ARCH, "max_positions": 512}  # room for the longest rendered prompt of any family
COLOURS = ["red", "green", "blue", "yellow"]
SIZES = [(64, 64), (48, 96), (96, 48), (80, 80)]  # height x width: each image its own token count
CORPUS = ["what colour is the picture ? which colour fills it ? red circle two blue squares . green yellow"]
TORCHVISION = importlib.util.find_spec("torchvision") is not None
# Every family, those whose processors need torchvision only where it is installed (`make venv` installs
# it; `make test-oldest`'s venv of transformers 5.17 has none).
RUNNABLE = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            family.needs_torchvision and not TORCHVISION, reason="its processor needs torchvision"
        ),
    )
    for name, family in FAMILIES.items()
]
# How far a batched score may lie from the reference's (docs/models.md): float32 to rounding (measured
# below 5e-6 for every family), bfloat16 to its precision (measured at most 0.032, option text, Qwen2-VL).
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 0.1}


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    """Two questions on each of four noisy colour images of different sizes, with options of one to
    four tokens (prompts and continuations of different lengths in one batch)."""
    root = tmp_path_factory.mktemp("families")
    (root / "images").mkdir()
    rows = []
    for i, ((height, width), colour) in enumerate(zip(SIZES, COLOURS)):
        base = np.array(Image.new("RGB", (1, 1), colour).getpixel((0, 0)))
        noise = np.random.default_rng(i).integers(-40, 40, (height, width, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(root / f"images/{i}.png")
        rows += [
            {
                "id": f"a{i}",
                "image": f"images/{i}.png",
                "qtype": 3,
                "question": "what colour is the picture ?",
                "options": COLOURS,
                "answer": "ABCD"[i],
                "split": "dev",
            },
            {
                "id": f"b{i}",
                "image": f"images/{i}.png",
                "qtype": 3,
                "question": "which colour fills it ?",
                "options": ["red circle", colour, "two blue squares .", "green"],
                "answer": "B",
                "split": "test",
            },
        ]
    return pl.DataFrame(rows), root


def tiny(family: str, seed: int = 0):
    """A tiny random student of `family` with weights drawn at std 0.2: at the default 0.02 a random
    model's scores hardly depend on positions, which would hide a position bug."""
    model, processor = build_tiny_student(CORPUS, ARCH, 64, seed, family=family)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear | torch.nn.Embedding):
                module.weight.normal_(0, 0.2, generator=generator)
    return model, processor


def reference(model, processor, items, root, method) -> dict[str, list[float]]:
    return {items["id"][row]: scores for row, _, scores in reference_scores(model, processor, items, root, method)}


def batched(model, processor, items, root, method, batch_size) -> dict[str, list[float]]:
    scored = score_items(model, processor, items, root, method, batch_size=batch_size)
    return dict(zip(scored["id"].to_list(), scored["scores"].to_list()))


def assert_close(got: dict, want: dict, tolerance: float) -> None:
    assert got.keys() == want.keys()
    for item, scores in want.items():
        assert got[item] == pytest.approx(scores, abs=tolerance), item


def test_every_family_is_found_by_its_model_type_and_an_unknown_one_is_refused(tmp_path):
    types = [model_type for family in FAMILIES.values() for model_type in family.model_types]
    assert len(types) == len(set(types))
    model, processor = tiny("gemma3")
    save_student(model, processor, tmp_path / "gemma")
    assert family_of_folder(tmp_path / "gemma") is FAMILIES["gemma3"] is check_family(tmp_path / "gemma", "auto")
    with pytest.raises(ValueError, match="student.family is 'qwen2_vl', but .* holds a Gemma 3 model"):
        check_family(tmp_path / "gemma", "qwen2_vl")
    (tmp_path / "blip").mkdir()
    (tmp_path / "blip" / "config.json").write_text('{"model_type": "blip-2"}')
    with pytest.raises(UnsupportedFamily, match=r"'blip-2' model.*supported: llava \(LLaVA-1.5\), llava_next"):
        load_student(tmp_path / "blip")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("family", RUNNABLE)
def test_batched_scores_equal_the_reference_whatever_the_batch(benchmark, family, dtype):
    items, root = benchmark
    model, processor = tiny(family)
    model = model.to(dtype)
    shuffled = items.sample(fraction=1.0, shuffle=True, seed=1)  # other items share each batch
    # Greedy generation in bfloat16 may take the other branch at a near-tie, padded or not: float32 only.
    for method in ("letter", "option_text", "generate")[: 3 if dtype == torch.float32 else 2]:
        want = reference(model, processor, items, root, method)
        for table, batch_size in ((items, 1), (items, 3), (shuffled, 3), (items, items.height)):
            assert_close(batched(model, processor, table, root, method, batch_size), want, TOLERANCE[dtype])


@pytest.mark.skipif(not TORCHVISION, reason="Qwen2-VL's processor needs torchvision")
def test_the_reference_is_a_plain_forward_of_the_rendered_prompt(benchmark):
    items, root = benchmark
    model, processor = tiny("qwen2_vl")
    family = family_of(model)
    image = Image.open(root / items["image"][0]).convert("RGB")
    row, prompt, scores = next(reference_scores(model, processor, items.head(1), root, "letter"))
    assert prompt.startswith("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>what colour")
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = processor(text=prompt, images=image, return_tensors="pt")
    with torch.inference_mode():
        log_probs = model(**inputs).logits[0, -1].log_softmax(-1)
    letters = [processor.tokenizer.convert_tokens_to_ids(letter.lower()) for letter in "ABCD"]
    assert scores == pytest.approx(log_probs[letters].tolist(), abs=1e-6)
    assert family.adds_bos(processor, prompt)  # Qwen's tokenizer has no BOS: nothing is added either way


def test_the_llm_extractor_reads_what_the_rules_cannot(benchmark):
    items, root = benchmark
    model, processor = tiny("gemma3")
    asked = []

    def extractor(question, options, reply):
        asked.append(reply)
        return "C"

    scored = score_items(model, processor, items, root, "generate", batch_size=3, extractor=extractor)
    counts = dict(scored["extraction"].value_counts().iter_rows())
    assert counts.get("llm", 0) == len(asked) > 0  # a random model's replies need the LLM
    assert scored.filter(pl.col("extraction") == "llm")["prediction"].unique().to_list() == ["C"]


def one_position_per_token(self, model, inputs):
    return Family.positions(self, model, inputs)


def cached_positions_from_zero(self, last, offsets):
    return offsets  # forgets where the prompt ended: the options start again at 0


@pytest.mark.skipif(not TORCHVISION, reason="Qwen2-VL's processor needs torchvision")
@pytest.mark.parametrize("mutant", [one_position_per_token, cached_positions_from_zero])
def test_wrong_mrope_positions_fail_against_the_reference(benchmark, monkeypatch, mutant):
    items, root = benchmark
    model, processor = tiny("qwen2_vl")
    want = {method: reference(model, processor, items, root, method) for method in ("letter", "option_text")}
    name = "positions" if mutant is one_position_per_token else "continue_positions"
    monkeypatch.setattr(Qwen2VL, name, mutant)
    got = {method: batched(model, processor, items, root, method, 3) for method in want}
    worst = max(
        abs(a - b) for method in want for item in want[method] for a, b in zip(got[method][item], want[method][item])
    )
    assert worst > TOLERANCE[torch.bfloat16]  # beyond either tolerance: the test above would fail


def records(root, items) -> list[TrainRecord]:
    return [
        TrainRecord(root / row["image"], f"<image>\n{row['question']}", row["options"]["ABCD".index(row["answer"])])
        for row in items.iter_rows(named=True)
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("family", RUNNABLE)
def test_training_in_full_and_with_lora_on_every_part_merges_saves_and_loads(benchmark, tmp_path, family, dtype):
    items, root = benchmark
    model, processor = tiny(family)
    model = model.to(dtype)
    parts = FAMILIES[family].parts
    before = {name: value.clone() for name, value in model.state_dict().items()}
    full = TrainConfig(method="full", steps=2, batch_size=4, lr=1e-3, log_every=1)  # the vision tower frozen
    model, _ = fine_tune(model, processor, records(root, items), full, seed=0)
    changed = {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    assert changed and not any(parts.of(name) == "vision" for name in changed)
    assert any(parts.of(name) == "language" for name in changed)

    projector = "full" if not FAMILIES[family].projector_lora else "adapt"
    lora = TrainConfig(
        method="lora",
        steps=2,
        batch_size=4,
        lr=1e-2,
        log_every=1,
        vision_tower="lora",
        lora=LoraSettings(r=2, alpha=4, projector=projector),
    )
    before = {name: value.clone() for name, value in model.state_dict().items()}
    model, log = fine_tune(model, processor, records(root, items), lora, seed=0)
    assert not any("lora" in name for name, _ in model.named_parameters())
    changed = {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    assert {parts.of(name) for name in changed} == {"vision", "projector", "language"}
    save_student(model, processor, tmp_path / "model")
    loaded, _ = load_student(tmp_path / "model", dtype=str(dtype).removeprefix("torch."), family=family)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_lora_names_that_match_nothing_are_refused(benchmark):
    items, root = benchmark
    model, processor = tiny("llava_next")
    cfg = TrainConfig(method="lora", steps=1, batch_size=2, lora=LoraSettings(target_modules=("q_proj", "c_attn")))
    with pytest.raises(ValueError, match=r"train.lora.target_modules: 'c_attn' names no linear layer of LLaVA-NeXT"):
        fine_tune(model, processor, records(root, items), cfg, seed=0)
    gemma, processor = tiny("gemma3")
    with pytest.raises(ValueError, match="Gemma 3's projector has no linear layer.*lora.projector: full"):
        fine_tune(gemma, processor, records(root, items), TrainConfig(method="lora", steps=1, batch_size=2), seed=0)
    with pytest.raises(ValueError, match="vision_tower lora needs train.method lora"):
        TrainConfig(method="full", vision_tower="lora")

"""The v2 start model assembled from tiny parts in their released formats: a Llama folder with a
Vicuna-like tokenizer (no <image>, no pad), a CLIP folder with OpenAI's preprocessor_config.json, and
LLaVA's mm_projector.bin."""

import io
import json

import pytest
import sentencepiece
import torch
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from dataengine.core.formats import IMAGE_TOKEN, question_prompt
from dataengine.model.assemble import assemble
from dataengine.model.families import FAMILIES
from dataengine.model.student import load_student

VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 16,
}
TEXT_HIDDEN = 48
WORDS = ["<unk>", "<s>", "</s>", "user", ":", "assistant", "what", "colour", "is", "it", "?", "red"]


def vicuna_like(folder, sentencepiece: bool = False):
    """A tiny LlamaForCausalLM and a tokenizer that, like Vicuna's, has neither <image> nor a pad token:
    a tokenizer.json, or (`sentencepiece`) only a SentencePiece tokenizer.model, as vicuna-7b-v1.5 ships it."""
    if sentencepiece:
        vocab_size = sentencepiece_tokenizer(folder)
    else:
        backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(WORDS)}, unk_token="<unk>"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        PreTrainedTokenizerFast(
            tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
        ).save_pretrained(folder)
        vocab_size = len(WORDS)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return model


def sentencepiece_tokenizer(folder) -> int:
    """A SentencePiece BPE model trained here, saved as Llama's tokenizer.model + tokenizer_config.json
    (no tokenizer.json); returns its vocabulary size."""
    model = io.BytesIO()
    sentences = ["USER: what colour is it? ASSISTANT: red", "A chat between a curious user and an assistant."] * 20
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=48,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
    )
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {  # vicuna-7b-v1.5's keys
                "tokenizer_class": "LlamaTokenizer",
                "add_bos_token": True,
                "add_eos_token": False,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "pad_token": None,
                "legacy": False,
                "model_max_length": 4096,
            }
        )
    )
    return 48


def clip_folder(folder, whole: bool):
    """A tiny CLIPModel (as openai/clip-vit-large-patch14-336 is) or CLIPVisionModel folder."""
    torch.manual_seed(1)
    if whole:
        text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=VISION, projection_dim=12))
    else:
        model = CLIPVisionModel(CLIPVisionConfig(**VISION))
    model.save_pretrained(folder)
    size = VISION["image_size"]
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {  # OpenAI's file, at this size
                "crop_size": size,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "CLIPFeatureExtractor",
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "size": size,
            }
        )
    )
    return vision_weights(model)


def vision_weights(model) -> dict[str, torch.Tensor]:
    """A CLIP model's vision weights by their names inside the vision transformer (transformers 5.24's
    CLIPVisionModel has no `vision_model.` level, 5.17's and CLIPModel have)."""
    state = model.state_dict()
    if any(name.startswith("vision_model.") for name in state):
        return {name.removeprefix("vision_model."): t for name, t in state.items() if name.startswith("vision_model.")}
    return state


def projector_file(path, widths=(VISION["hidden_size"], TEXT_HIDDEN), keys=("0", "2")):
    """An mm_projector.bin as LLaVA's pre-training saves it (bfloat16, `model.mm_projector.<i>.*`)."""
    vision, text = widths
    shapes = {keys[0]: (text, vision), keys[1]: (text, text)}
    torch.manual_seed(2)
    state = {}
    for index, (rows, cols) in shapes.items():
        state[f"model.mm_projector.{index}.weight"] = torch.randn(rows, cols).bfloat16()
        state[f"model.mm_projector.{index}.bias"] = torch.randn(rows).bfloat16()
    torch.save(state, path)
    return state


@pytest.fixture
def parts(tmp_path):
    (tmp_path / "vicuna").mkdir()
    (tmp_path / "clip").mkdir()
    llm = vicuna_like(tmp_path / "vicuna")
    vision = clip_folder(tmp_path / "clip", whole=True)
    projector = projector_file(tmp_path / "mm_projector.bin")
    return tmp_path, llm, vision, projector


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.to(torch.bfloat16), b.to(torch.bfloat16))


def test_assembled_folder_loads_with_every_part_in_place_and_runs(parts):
    root, llm, vision, projector = parts
    out = assemble(root / "vicuna", root / "clip", root / "mm_projector.bin", root / "assembled")
    model, processor = load_student(out, dtype="bfloat16")

    assert model.config.vision_feature_layer == -2
    assert model.dtype == torch.bfloat16
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == model.config.image_token_id == len(WORDS)
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id == len(WORDS) + 1
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert model.get_input_embeddings().weight.shape[0] == 64  # padded to a multiple of 64, as llava-hf's

    language = model.model.language_model.state_dict()
    for name, tensor in llm.model.state_dict().items():
        rows = tensor.shape[0] if name == "embed_tokens.weight" else None  # old rows kept, new ones added
        assert same(language[name][:rows], tensor), name
    assert same(model.lm_head.weight[: len(WORDS)], llm.lm_head.weight)
    tower = vision_weights(model.model.vision_tower)
    assert tower.keys() == vision.keys() and all(same(tower[name], tensor) for name, tensor in vision.items())
    ours = model.model.multi_modal_projector
    assert same(ours.linear_1.weight, projector["model.mm_projector.0.weight"])
    assert same(ours.linear_2.bias, projector["model.mm_projector.2.bias"])

    prompt = FAMILIES["llava"].prompt(processor, question_prompt("what colour is it ?"))
    assert prompt.startswith("USER: <image>\n") and prompt.endswith("ASSISTANT:")
    inputs = processor(images=[Image.new("RGB", (50, 40), "red")], text=[prompt], return_tensors="pt")
    assert (inputs["input_ids"] == model.config.image_token_id).sum() == 4  # (32 / 16)^2 patches, CLS dropped
    with torch.inference_mode():
        logits = model(**{**inputs, "pixel_values": inputs["pixel_values"].bfloat16()}).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()


def test_a_clip_vision_model_folder_serves_as_the_tower(tmp_path):
    (tmp_path / "vicuna").mkdir()
    (tmp_path / "clip").mkdir()
    vicuna_like(tmp_path / "vicuna")
    vision = clip_folder(tmp_path / "clip", whole=False)
    projector_file(tmp_path / "mm_projector.bin")
    out = assemble(
        tmp_path / "vicuna",
        tmp_path / "clip",
        tmp_path / "mm_projector.bin",
        tmp_path / "m",
        vision_feature_layer=-1,
        dtype="float32",
    )
    model, _ = load_student(out)
    assert model.config.vision_feature_layer == -1
    tower = vision_weights(model.model.vision_tower)
    assert tower.keys() == vision.keys() and all(torch.equal(tower[name], tensor) for name, tensor in vision.items())


@pytest.mark.parametrize(
    ("widths", "keys", "message"),
    [
        ((VISION["hidden_size"], TEXT_HIDDEN), ("0", "1"), "projector keys"),  # not mlp2x_gelu's layout
        ((VISION["hidden_size"], 64), ("0", "2"), "hidden size 48 need"),  # made for another LLM
        ((16, TEXT_HIDDEN), ("0", "2"), "CLIP's width 32"),  # made for another vision tower
    ],
)
def test_a_projector_that_does_not_fit_is_named(parts, widths, keys, message):
    root = parts[0]
    bad = root / "other_projector.bin"
    projector_file(bad, widths, keys)
    with pytest.raises(ValueError, match=message) as error:
        assemble(root / "vicuna", root / "clip", bad, root / "assembled")
    assert str(bad) in str(error.value)
    assert not (root / "assembled").exists()


def test_parts_in_the_wrong_places_are_named(parts):
    root = parts[0]
    with pytest.raises(ValueError, match="language model") as error:
        assemble(root / "clip", root / "clip", root / "mm_projector.bin", root / "assembled")
    assert str(root / "clip" / "config.json") in str(error.value)
    with pytest.raises(ValueError, match="vision tower"):
        assemble(root / "vicuna", root / "vicuna", root / "mm_projector.bin", root / "assembled")
    with pytest.raises(ValueError, match="cannot read the projector"):
        assemble(root / "vicuna", root / "clip", root / "vicuna" / "config.json", root / "assembled")


def test_vicunas_sentencepiece_tokenizer_is_read(tmp_path):
    for part in ("vicuna", "clip"):
        (tmp_path / part).mkdir()
    vicuna_like(tmp_path / "vicuna", sentencepiece=True)
    clip_folder(tmp_path / "clip", whole=True)
    projector_file(tmp_path / "mm_projector.bin")
    out = assemble(tmp_path / "vicuna", tmp_path / "clip", tmp_path / "mm_projector.bin", tmp_path / "assembled")
    model, processor = load_student(out, dtype="bfloat16")
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == 48
    ids = processor.tokenizer("what colour is it?")["input_ids"]
    assert ids[0] == 1 and processor.tokenizer.decode(ids[1:]) == "what colour is it?"

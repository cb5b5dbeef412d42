"""The tiny student: tokenizer, build, save/load through the Auto classes, generate."""


import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration

from dataengine.formats import LETTER_INSTRUCTION, question_prompt
from dataengine.streaming import pixel_values
from dataengine.student import (
    build_tiny_student,
    encode_prompts,
    load_student,
    pad_batch,
    save_student,
    train_tokenizer,
)
from tests.tiny import COLOUR_QUESTION, CORPUS, IMAGE_SIZE, TINY_ARCH, colour_images, tiny_student


def test_tokenizer_has_one_token_per_word_and_round_trips():
    tokenizer = train_tokenizer(CORPUS)
    text = "A red circle, left of two blue squares."
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert len(ids) == 1 + len(["a", "red", "circle", ",", "left", "of", "two", "blue", "squares", "."])
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a red circle , left of two blue squares ."
    # template words (the letter instruction, the letters) are known though the corpus lacks them
    assert tokenizer.unk_token_id not in tokenizer(LETTER_INSTRUCTION)["input_ids"]
    assert len(tokenizer("option's", add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer("purple", add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]


def test_image_token_is_one_special_token():
    tokenizer = train_tokenizer(CORPUS)
    ids = tokenizer(question_prompt(COLOUR_QUESTION))["input_ids"]
    assert ids[:2] == [tokenizer.bos_token_id, tokenizer.image_token_id]
    assert tokenizer.image_token == "<image>"


def test_saved_student_reloads_with_identical_logits_and_generates(tmp_path):
    model, processor = tiny_student()
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "red")
    inputs = processor(text=[question_prompt(COLOUR_QUESTION)], images=[image], return_tensors="pt")
    assert (inputs["input_ids"] == processor.tokenizer.image_token_id).sum() == (IMAGE_SIZE // 16) ** 2
    folder = save_student(model, processor, tmp_path / "model", train_log={"loss": [1.0]})
    assert (folder / "train_log.json").is_file()

    reloaded = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True)
    reprocessor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    again = reprocessor(text=[question_prompt(COLOUR_QUESTION)], images=[image], return_tensors="pt")
    assert torch.equal(again["input_ids"], inputs["input_ids"])
    assert torch.equal(again["pixel_values"], inputs["pixel_values"])
    with torch.inference_mode():
        assert torch.equal(reloaded(**again).logits, model(**inputs).logits)
        generated = load_student(folder)[0].generate(**inputs, max_new_tokens=3, do_sample=False)
    assert generated.shape == (1, inputs["input_ids"].shape[1] + 3)


def test_save_replaces_an_old_folder_and_leaves_no_temporary(tmp_path):
    model, processor = tiny_student(seed=0)
    save_student(model, processor, tmp_path / "model")
    other, _ = tiny_student(seed=1)
    save_student(other, processor, tmp_path / "model")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    reloaded, _ = load_student(tmp_path / "model")
    assert torch.equal(reloaded.lm_head.weight, other.lm_head.weight)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_saved_model_folder_follows_the_umask_like_every_other_output(tmp_path, umask):
    model, processor = tiny_student()
    previous = os.umask(umask)
    try:
        save_student(model, processor, tmp_path / "model")  # a new folder, then a replaced one
        save_student(model, processor, tmp_path / "model")
    finally:
        os.umask(previous)
    folder = tmp_path / "model"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask  # a group can list and read it
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o666 & ~umask}


def test_interrupted_save_never_looks_complete(tmp_path, monkeypatch):
    model, processor = tiny_student()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(processor, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        save_student(model, processor, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_load_names_a_missing_or_invalid_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_student(tmp_path / "nowhere")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="broken"):
        load_student(tmp_path / "broken")


def test_build_checks_its_arguments():
    tokenizer = train_tokenizer(CORPUS)
    with pytest.raises(ValueError, match="text_width"):
        build_tiny_student(tokenizer, {"text_width": 8}, IMAGE_SIZE, 0)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        build_tiny_student(tokenizer, TINY_ARCH, 40, 0)
    model, _ = build_tiny_student(tokenizer, TINY_ARCH, IMAGE_SIZE, 0)
    assert isinstance(model, LlavaForConditionalGeneration)
    assert model.config.text_config.vocab_size == len(tokenizer)


def test_encode_prompts_matches_the_processor(tmp_path):
    paths = colour_images(tmp_path)
    _, processor = tiny_student()
    pixels = pixel_values(processor.image_processor, [tmp_path / paths["red"]])
    prompt = question_prompt(COLOUR_QUESTION)
    image = Image.open(tmp_path / paths["red"])
    expected = processor(text=[prompt], images=[image], return_tensors="pt")
    assert encode_prompts(processor, [prompt], pixels) == expected["input_ids"].tolist()
    assert torch.equal(pixels, expected["pixel_values"])
    # pixels already cast for a bfloat16 model (numpy, which the processor reads them with, has none)
    assert encode_prompts(processor, [prompt], pixels.bfloat16()) == expected["input_ids"].tolist()
    # A text-only prompt (LLaVA's instruction data has them) beside an image's, or alone.
    assert encode_prompts(processor, [COLOUR_QUESTION], None) == processor.tokenizer([COLOUR_QUESTION])["input_ids"]
    assert encode_prompts(processor, [COLOUR_QUESTION, prompt], pixels)[1] == expected["input_ids"][0].tolist()
    with pytest.raises(ValueError, match="none without an image"):
        encode_prompts(processor, [prompt], None)
    with pytest.raises(ValueError, match="must hold one"):
        encode_prompts(processor, [prompt + prompt], pixels)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        pixel_values(processor.image_processor, [tmp_path / "missing.png"])


def test_pad_batch_counts_positions_over_real_tokens_only():
    left = pad_batch([[5, 6, 7], [8]], pad_id=0, side="left")
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert left["position_ids"].tolist() == [[0, 1, 2], [0, 0, 0]]
    right = pad_batch([[5, 6, 7], [8]], pad_id=-100, side="right")
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, -100, -100]]
    assert np.array_equal(right["position_ids"].numpy(), [[0, 1, 2], [0, 0, 0]])
    with pytest.raises(ValueError, match="side"):
        pad_batch([[1]], 0, side="middle")

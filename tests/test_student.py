"""The tiny student: tokenizer, build, save/load through the Auto classes, generate."""

import os
import stat

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, LlavaForConditionalGeneration

from dataengine.core.formats import LETTER_INSTRUCTION, question_prompt
from dataengine.model.families import FAMILIES
from dataengine.model.families.llava import llava_tokenizer
from dataengine.model.inputs import extend, padded, processed, rows
from dataengine.model.student import build_tiny_student, load_student, save_student
from tests.tiny import COLOUR_QUESTION, CORPUS, IMAGE_SIZE, TINY_ARCH, tiny_student

train_tokenizer = llava_tokenizer


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
    reprocessor = load_student(folder)[1]
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
    with pytest.raises(ValueError, match="text_width"):
        build_tiny_student(CORPUS, {"text_width": 8}, IMAGE_SIZE, 0)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        build_tiny_student(CORPUS, TINY_ARCH, 40, 0)
    with pytest.raises(ValueError, match="supported: llava"):
        build_tiny_student(CORPUS, TINY_ARCH, IMAGE_SIZE, 0, family="blip")
    model, processor = build_tiny_student(CORPUS, TINY_ARCH, IMAGE_SIZE, 0)
    assert isinstance(model, LlavaForConditionalGeneration)
    assert model.config.text_config.vocab_size == len(processor.tokenizer) == len(train_tokenizer(CORPUS))


def test_inputs_keep_the_processors_whole_output_and_extend_rows_with_text(tmp_path):
    model, processor = tiny_student()
    family = FAMILIES["llava"]
    images = [Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), colour) for colour in ("red", "blue")]
    prompt = family.prompt(processor, question_prompt(COLOUR_QUESTION))
    inputs = processed(processor, family, [prompt, COLOUR_QUESTION], [images[0], None])  # a text-only row beside
    expected = processor(text=[prompt], images=[images[0]], return_tensors="pt")
    assert torch.equal(inputs["pixel_values"], expected["pixel_values"])
    image_row, text_row = rows(inputs)
    assert image_row["input_ids"] == expected["input_ids"][0].tolist()
    assert text_row["input_ids"] == processor.tokenizer([COLOUR_QUESTION])["input_ids"][0]
    extend(text_row, [7, 8])
    assert text_row["input_ids"][-2:] == [7, 8] and text_row["attention_mask"][-2:] == [1, 1]
    left = padded(
        [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1]}, {"input_ids": [8], "attention_mask": [1]}],
        pad_id=0,
        side="left",
    )
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    right = padded(
        [{"input_ids": [5], "labels": [5]}, {"input_ids": [8, 9], "labels": [-100, 9]}], pad_id=0, side="right"
    )
    assert right["labels"].tolist() == [[5, -100], [-100, 9]]
    with pytest.raises(ValueError, match="side"):
        padded([{"input_ids": [1]}], 0, side="middle")

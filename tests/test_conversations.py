"""LLaVA's conversation JSON as training data: the checks, the records, and training on them
(multi-turn, text-only, loss on the replies only). The fixture tests/data/llava is in LLaVA's own
format: images under several roots, `<image>` at the start, the end and the middle of the first turn."""

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from dataengine.core.formats import IMAGE_TOKEN
from dataengine.model.families import FAMILIES
from dataengine.model.families.llava import LLAVA_15_CHAT_TEMPLATE
from dataengine.model.inputs import IGNORE_INDEX
from dataengine.train.conversations import RecordFile, parse_entry, prepare
from dataengine.train.records import Chained, TrainBatch, TrainRecord
from dataengine.train.training import TrainConfig, fine_tune
from tests.tiny import tiny_student

FIXTURE = Path(__file__).parent / "data" / "llava"
DATA, IMAGES = FIXTURE / "llava_fixture.json", FIXTURE / "images"


@pytest.fixture
def records(tmp_path) -> RecordFile:
    prepare(DATA, IMAGES, tmp_path / "records.jsonl", tmp_path / "stats.json", missing_images="skip")
    return RecordFile(tmp_path / "records.jsonl", IMAGES)


def test_a_missing_image_stops_preparation_naming_the_entry(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"entry 6 \(id 'missing_image'\).*000000999999\.jpg.*skip"):
        prepare(DATA, IMAGES, tmp_path / "records.jsonl", tmp_path / "stats.json")
    assert not (tmp_path / "records.jsonl").exists()


def test_skipped_images_are_counted_and_the_rest_kept(tmp_path, records):
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats == {
        "entries": 7,
        "records": 6,
        "text_only": 1,
        "multi_turn": 3,
        "turns": 10,
        "skipped_missing_image": 1,
        "skipped_examples": [stats["skipped_examples"][0]],
    }
    assert "missing_image" in stats["skipped_examples"][0]
    assert len(records) == 6


def test_records_follow_llavas_normalisation(records):
    by_prompt = {record.prompt: record for record in records}
    # <image> at the end or in the middle of the first turn moves to the front, as LLaVA's loader does.
    assert f"{IMAGE_TOKEN}\nIs the square blue?" in by_prompt
    assert f"{IMAGE_TOKEN}\nDescribe the image.  Answer briefly." in by_prompt
    three_turns = records[2]
    assert three_turns.image == IMAGES / "ocr_vqa/images/140031996.jpg"
    assert (three_turns.target, three_turns.follow_ups) == (
        "one",
        (("What colour is it?", "green"), ("Is it a triangle?", "Yes")),
    )
    text_only = records[5]
    assert text_only.image is None and IMAGE_TOKEN not in text_only.prompt
    assert all(record.image is None or record.image.is_file() for record in records)


def test_record_file_reads_rows_by_offset_and_pickles(records):
    assert list(records) == [records[row] for row in range(len(records))] == records[:]
    assert records[-1] == records[5]
    copy = pickle.loads(pickle.dumps(records))  # as a loader worker gets it
    assert copy[3] == records[3]


def test_chained_sequences_read_as_one(records):
    extra = [TrainRecord(None, "a", "b"), TrainRecord(None, "c", "d")]
    chained = Chained([records, [], extra])
    assert len(chained) == 8
    assert chained[5] == records[5] and chained[6] == extra[0] and chained[-1] == extra[1]
    assert list(chained) == [*records, *extra]
    with pytest.raises(IndexError):
        chained[8]


def entry(**fields) -> dict:
    return {
        "id": "e1",
        "image": "coco/x.jpg",
        "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "A."}],
    } | fields


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([], "expected an object"),
        (entry(conversations="hi"), "list of"),
        (entry(conversations=[{"from": "human", "value": "<image>\nQ?"}]), "turn pairs, got 1"),
        (
            entry(conversations=[{"from": "human", "value": "<image>\nQ?"}, {"from": "human", "value": "A."}]),
            "turn 1 is from 'human', expected 'gpt'",
        ),
        (
            entry(conversations=[{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": " "}]),
            "turn 1 has no text",
        ),
        (entry(image=None), "<image> without an image"),
        (
            entry(conversations=[{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]),
            "must hold <image> once",
        ),
        (
            entry(
                conversations=[
                    {"from": "human", "value": "<image>\nQ?"},
                    {"from": "gpt", "value": "A."},
                    {"from": "human", "value": "<image> again?"},
                    {"from": "gpt", "value": "B."},
                ]
            ),
            "<image> in turn 2",
        ),
        (entry(image=["a.jpg", "b.jpg"]), "must be one path"),
    ],
)
def test_malformed_entries_are_named(bad, message):
    with pytest.raises(ValueError, match=rf"data\.json: entry 4.*{message}"):
        parse_entry(bad, "data.json: entry 4")


def test_a_leading_reply_is_dropped_as_llava_does():
    parsed = parse_entry(entry(conversations=[{"from": "gpt", "value": "Hi."}, *entry()["conversations"]]), "e")
    assert parsed["turns"] == [["<image>\nQ?", "A."]]


def test_a_malformed_entry_stops_preparation_and_writes_nothing(tmp_path):
    data = json.loads(DATA.read_text())
    data[3]["conversations"][1]["from"] = "human"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad\.json: entry 3 \(id '0a0bc91825468c45'\): turn 1 is from 'human'"):
        prepare(tmp_path / "bad.json", IMAGES, tmp_path / "records.jsonl", tmp_path / "stats.json")
    assert not (tmp_path / "records.jsonl").exists()


def test_the_loss_sees_every_reply_and_no_prompt(records):
    model, processor = tiny_student()
    build = TrainBatch(processor, FAMILIES["llava"], records)
    batch = build([2, 5])  # three turns with an image; two turns, text only
    tokenizer = processor.tokenizer
    assert batch["pixel_values"].shape[0] == 1  # one image in the batch
    for row, record in enumerate((records[2], records[5])):
        labels = batch["labels"][row]
        shown = labels[labels != IGNORE_INDEX].tolist()
        replies = [record.target, *(reply for _, reply in record.follow_ups)]
        expected = [
            t
            for reply in replies
            for t in [*tokenizer(reply, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        ]
        assert shown == expected
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        assert tokenizer.decode(ids).count(tokenizer.eos_token) == len(replies)
    image_only = build([0])
    assert (image_only["input_ids"][0] == processor.tokenizer.image_token_id).sum() > 0
    assert "pixel_values" not in build([5])


def test_max_length_cuts_a_conversation_at_its_end(records):
    _, processor = tiny_student()
    llava = FAMILIES["llava"]
    whole = TrainBatch(processor, llava, records)([2])["input_ids"].shape[1]
    cut = TrainBatch(processor, llava, records, max_length=whole - 3)([2])
    assert cut["input_ids"].shape[1] == whole - 3
    with pytest.raises(ValueError, match="cuts into the image tokens"):
        TrainBatch(processor, llava, records, max_length=3)([2])


def test_follow_up_turns_in_llavas_chat_template():
    _, processor = tiny_student()
    processor.chat_template = LLAVA_15_CHAT_TEMPLATE
    text = FAMILIES["llava"].follow_up(processor, [("<image>\nWhat colour?", "Red.")], "And the shape?")
    assert text == "USER: And the shape? ASSISTANT:"


def test_fine_tune_on_conversations_mixed_with_single_turn_records(tmp_path, records):
    shutil.copytree(IMAGES, tmp_path / "images")
    model, processor = tiny_student()
    mixed = Chained([records, [TrainRecord(records[0].image, f"{IMAGE_TOKEN}\nWhat colour is the picture?", "red")]])
    cfg = TrainConfig(steps=12, batch_size=4, lr=1e-2, warmup_ratio=0.0, log_every=6)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model, log = fine_tune(model, processor, mixed, cfg, seed=0)
    assert log["records"] == 7 and [row["step"] for row in log["loss"]] == [6, 12]
    assert log["loss"][-1]["loss"] < log["loss"][0]["loss"]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(before[name], p) for name, p in model.named_parameters())

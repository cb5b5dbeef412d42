"""What training reads: a record (an image or none, and the turns of a conversation), the paper's
three views of an engine sample, several record sequences read as one, and a step's records as
padded token ids with labels that show the loss the replies only."""

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import ProcessorMixin

from dataengine.formats import LETTERS, follow_up_prompt, lettered_prompt, question_prompt
from dataengine.streaming import distinct_images, pixel_values
from dataengine.student import encode_prompts, pad_batch

VIEWS = ("free", "lettered", "shuffled")
IGNORE_INDEX = -100  # label value the HF loss skips


@dataclass(frozen=True)
class TrainRecord:
    """One training sequence: the image (None for text-only data), the prompt shown with it and the
    text the model must write, then the further (prompt, reply) turns of a conversation. The loss is
    on the replies only."""

    image: Path | None
    prompt: str
    target: str
    follow_ups: tuple[tuple[str, str], ...] = ()


class Chained(Sequence[TrainRecord]):
    """Several record sequences read as one (the base data, then the engine data's views)."""

    def __init__(self, parts: Sequence[Sequence[TrainRecord]]):
        self.parts = [part for part in parts if len(part)]
        self.ends = np.cumsum([len(part) for part in self.parts]).tolist()

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if not -len(self) <= row < len(self):
            raise IndexError(row)
        row %= len(self)
        part = bisect.bisect_right(self.ends, row)
        return self.parts[part][row - (self.ends[part - 1] if part else 0)]

    def __iter__(self) -> Iterator[TrainRecord]:
        for part in self.parts:
            yield from part


def sample_views(sample: dict, image_root: Path, views: Sequence[str], rng: np.random.Generator) -> list[TrainRecord]:
    """The paper's views of one accepted sample: 'free' (question -> short answer), 'lettered'
    (question + options A-D -> letter) and 'shuffled' (options in a new random order -> new letter)."""
    try:
        question, short_answer = sample["instruction"], sample["short_answer"]
        options, letter = list(sample["options"]), sample["choice_answer"]
        image = Path(image_root) / sample["image"]
    except KeyError as error:
        raise KeyError(f"sample {sample.get('id', '?')!r} lacks the field {error}") from None
    if len(options) != len(LETTERS) or letter not in LETTERS:
        raise ValueError(f"sample {sample.get('id', '?')!r}: need {len(LETTERS)} options and a letter, "
                         f"got {options!r} / {letter!r}")  # fmt: skip
    records = []
    for view in views:
        if view == "free":
            records.append(TrainRecord(image, question_prompt(question), short_answer))
        elif view == "lettered":
            records.append(TrainRecord(image, lettered_prompt(question, options), letter))
        elif view == "shuffled":
            order = rng.permutation(len(options))
            shuffled = [options[i] for i in order]
            new_letter = LETTERS[int(np.flatnonzero(order == LETTERS.index(letter))[0])]
            records.append(TrainRecord(image, lettered_prompt(question, shuffled), new_letter))
        else:
            raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    return records


class TrainBatch:
    """A step's share of records as padded tensors, made in a loader worker: the pixels of its distinct
    images (float32; None when no row has an image) and each image row's `slots` among them, token ids
    of the conversation (right padding) and labels that show the loss the replies only."""

    def __init__(self, processor: ProcessorMixin, records: Sequence[TrainRecord], max_length: int | None = None):
        self.processor, self.records, self.max_length = processor, records, max_length

    def __call__(self, rows: list[int]) -> dict:
        records = [self.records[row] for row in rows]
        paths, slots = distinct_images([record.image for record in records if record.image is not None])
        pixels = pixel_values(self.processor.image_processor, paths) if paths else None
        sequences, labels = self.encode(records, pixels)
        batch = pad_batch(sequences, self.processor.tokenizer.pad_token_id, "right")
        return {
            "pixels": pixels,
            "slots": slots,
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "labels": pad_batch(labels, IGNORE_INDEX, "right")["input_ids"],
        }

    def encode(
        self, records: Sequence[TrainRecord], pixels: torch.Tensor | None
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of every turn (prompt, reply + EOS) cut to `max_length`, and labels that hide the
        prompts from the loss."""
        tokenizer = self.processor.tokenizer
        prompts = encode_prompts(self.processor, [record.prompt for record in records], pixels)
        targets = tokenizer([record.target for record in records], add_special_tokens=False)["input_ids"]
        sequences, labels = [], []
        for record, prompt, target in zip(records, prompts, targets):
            if self.max_length is not None and record.image is not None and len(prompt) > self.max_length:
                raise ValueError(f"max_length {self.max_length} cuts into the image tokens of a prompt of "
                                 f"{len(prompt)} tokens: {record.prompt[:80]!r}")  # fmt: skip
            sequence, label = [], []
            turns = [(record.prompt, record.target), *record.follow_ups]
            for turn, (asked, reply) in enumerate(turns):
                asked_ids = prompt if turn == 0 else self.ids(follow_up_prompt(self.processor, turns[:turn], asked))
                answer = [*(target if turn == 0 else self.ids(reply)), tokenizer.eos_token_id]
                sequence += asked_ids + answer
                label += [IGNORE_INDEX] * len(asked_ids) + answer
            sequences.append(sequence[: self.max_length])
            labels.append(label[: self.max_length])
        return sequences, labels

    def ids(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

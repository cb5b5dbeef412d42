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

from dataengine.core.formats import SAMPLE_LETTERS, lettered_prompt, question_prompt
from dataengine.core.images import open_rgb
from dataengine.model.families import Family
from dataengine.model.inputs import IGNORE_INDEX, extend, image_inputs, padded, processed
from dataengine.model.inputs import rows as token_rows

VIEWS = ("free", "lettered", "shuffled")


@dataclass(frozen=True)
class TrainRecord:
    """One training sequence: the image (None for text-only data), the prompt shown with it and the
    text the model must write, then the further (prompt, reply) turns of a conversation. The loss is
    on the replies only."""

    image: Path | None
    prompt: str
    target: str
    follow_ups: tuple[tuple[str, str], ...] = ()

    @property
    def size(self) -> tuple[bool, int]:
        """What batches are grouped by: whether an image comes first, then the characters of every turn
        (a proxy for the tokens that needs no tokenizer)."""
        turns = [(self.prompt, self.target), *self.follow_ups]
        return self.image is not None, sum(len(asked) + len(reply) for asked, reply in turns)


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
    if len(options) != len(SAMPLE_LETTERS) or letter not in SAMPLE_LETTERS:
        raise ValueError(
            f"sample {sample.get('id', '?')!r}: need {len(SAMPLE_LETTERS)} options and a letter, "
            f"got {options!r} / {letter!r}"
        )
    records = []
    for view in views:
        if view == "free":
            records.append(TrainRecord(image, question_prompt(question), short_answer))
        elif view == "lettered":
            records.append(TrainRecord(image, lettered_prompt(question, options), letter))
        elif view == "shuffled":
            order = rng.permutation(len(options))
            shuffled = [options[i] for i in order]
            new_letter = SAMPLE_LETTERS[int(np.flatnonzero(order == SAMPLE_LETTERS.index(letter))[0])]
            records.append(TrainRecord(image, lettered_prompt(question, shuffled), new_letter))
        else:
            raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    return records


class TrainBatch:
    """A step's share of records as model inputs, made in a loader worker: the processor's whole output
    for each record's first prompt and image, then the reply and the later turns appended (each reply
    followed by the family's end of turn), right-padded, with labels that show the loss the replies only."""

    def __init__(
        self, processor: ProcessorMixin, family: Family, records: Sequence[TrainRecord], max_length: int | None = None
    ):
        self.processor, self.family, self.records, self.max_length = processor, family, records, max_length

    def __call__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        records = [self.records[row] for row in rows]
        prompts = [self.family.prompt(self.processor, record.prompt) for record in records]
        images = [None if record.image is None else open_rgb(record.image) for record in records]
        inputs = processed(self.processor, self.family, prompts, images)
        end = self.ids(self.family.end_of_turn(self.processor))
        replies = self.processor.tokenizer([record.target for record in records], add_special_tokens=False)["input_ids"]
        sequences = [
            self.conversation(record, row, reply, end)
            for record, row, reply in zip(records, token_rows(inputs), replies, strict=True)
        ]
        return {**image_inputs(inputs), **padded(sequences, self.processor.tokenizer.pad_token_id, "right")}

    def conversation(
        self, record: TrainRecord, row: dict[str, list[int]], reply_ids: list[int], end: list[int]
    ) -> dict[str, list[int]]:
        """The record's first prompt (`row`, as processed) and first reply (`reply_ids`, tokenized with the
        batch's) followed by the later turns, with labels: the replies and their end of turn (`end`);
        cut to `max_length`, never inside the image."""
        labels = [IGNORE_INDEX] * len(row["input_ids"])
        turns = [(record.prompt, record.target), *record.follow_ups]
        for turn, (asked, reply) in enumerate(turns):
            if turn:
                asked_ids = self.ids(self.family.follow_up(self.processor, turns[:turn], asked))
                extend(row, asked_ids)
                labels += [IGNORE_INDEX] * len(asked_ids)
                reply_ids = self.ids(reply)
            answer = [*reply_ids, *end]
            extend(row, answer)
            labels += answer
        row["labels"] = labels
        if self.max_length is not None and len(row["input_ids"]) > self.max_length:
            if self.family.image_token_id(self.processor) in row["input_ids"][self.max_length :]:
                raise ValueError(
                    f"max_length {self.max_length} cuts into the image tokens of a sequence of "
                    f"{len(row['input_ids'])} tokens: {record.prompt[:80]!r}"
                )
            row = {key: values[: self.max_length] for key, values in row.items()}
        return row

    def ids(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

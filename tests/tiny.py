"""A tiny student and a solid-colour task, shared by the student, training and evaluation tests."""

from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from dataengine.core.formats import LETTERS, lettered_prompt
from dataengine.model.student import build_tiny_student
from dataengine.train.records import TrainRecord, sample_views
from dataengine.train.training import TrainConfig, fine_tune

TINY_ARCH = {
    "vision_hidden": 32,
    "vision_mlp": 64,
    "vision_layers": 1,
    "vision_heads": 2,
    "text_hidden": 64,
    "text_mlp": 128,
    "text_layers": 2,
    "text_heads": 2,
    "max_positions": 128,
}
IMAGE_SIZE = 32
COLOURS = ("red", "green", "blue", "yellow")
COLOUR_QUESTION = "What colour is the picture?"
CORPUS = [COLOUR_QUESTION, "A red circle, left of two blue squares.", *COLOURS]


def colour_images(root: Path) -> dict[str, str]:
    """One solid-colour PNG per colour under root/images; colour -> path relative to root."""
    (root / "images").mkdir(exist_ok=True)
    paths = {}
    for colour in COLOURS:
        paths[colour] = f"images/{colour}.png"
        Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), colour).save(root / paths[colour])
    return paths


def colour_sample(colour: str, image: str, options: list[str] | None = None) -> dict:
    """A sample in the contract's format asking for the picture's colour."""
    options = options or list(COLOURS)
    return {
        "instruction": COLOUR_QUESTION,
        "answer": f"It is {colour}.",
        "short_answer": colour,
        "options": options,
        "choice_answer": LETTERS[options.index(colour)],
        "image": image,
        "qtype": 3,
    }


def tiny_student(seed: int = 0, family: str = "llava"):
    return build_tiny_student(CORPUS, TINY_ARCH, IMAGE_SIZE, seed, family)


def colour_items(paths: dict[str, str]) -> pl.DataFrame:
    """Each colour asked with the options in two orders (answer at different letters), dev and test:
    two questions per image, like MMBench's circular copies."""
    rows = []
    for i, colour in enumerate(COLOURS):
        for shift, split in ((0, "dev"), (1, "test")):
            options = list(COLOURS[shift:] + COLOURS[:shift])
            rows.append(
                {
                    "id": f"b-{i}{shift}",
                    "image": paths[colour],
                    "qtype": 3,
                    "question": COLOUR_QUESTION,
                    "options": options,
                    "answer": LETTERS[options.index(colour)],
                    "split": split,
                }
            )
    return pl.DataFrame(rows)


def trained_colour_student(root: Path):
    """A student trained to name the colour of a solid-colour picture, asked freely or with the
    options shown (replying with the option text, which `generate` must read back), and the items
    (images under `root`)."""
    paths = colour_images(root)
    items = colour_items(paths)
    rng = np.random.default_rng(0)
    records = [r for c in COLOURS for r in sample_views(colour_sample(c, paths[c]), root, ["free"], rng)]
    records += [
        TrainRecord(
            root / item["image"],
            lettered_prompt(item["question"], item["options"]),
            item["options"][LETTERS.index(item["answer"])],
        )
        for item in items.iter_rows(named=True)
    ]
    cfg = TrainConfig(steps=40, batch_size=16, lr=1e-2, warmup_ratio=0.1, log_every=10, vision_tower="full")
    model, processor = tiny_student()
    model, _ = fine_tune(model, processor, records, cfg, seed=0)
    return model, processor, items

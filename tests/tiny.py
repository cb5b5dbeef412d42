"""A tiny student and a solid-colour task, shared by the student, training and evaluation tests."""

from pathlib import Path

from PIL import Image

from dataengine.formats import LETTERS
from dataengine.student import build_tiny_student, train_tokenizer

TINY_ARCH = {
    "vision_hidden": 32, "vision_mlp": 64, "vision_layers": 1, "vision_heads": 2,
    "text_hidden": 64, "text_mlp": 128, "text_layers": 2, "text_heads": 2, "max_positions": 128,
}  # fmt: skip
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
    return {"instruction": COLOUR_QUESTION, "answer": f"It is {colour}.", "short_answer": colour,
            "options": options, "choice_answer": LETTERS[options.index(colour)], "image": image, "qtype": 3}  # fmt: skip


def tiny_student(seed: int = 0):
    return build_tiny_student(train_tokenizer(CORPUS), TINY_ARCH, IMAGE_SIZE, seed)

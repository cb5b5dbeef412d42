"""Model inputs: rows of (rendered prompt, image) through the family's processor, whole.

The processor's output is kept entire (`image_grid_thw`, `image_sizes`, `pixel_attention_mask`,
`token_type_ids`, ... beside `pixel_values`), each row with its own image, so no family's images are
ever cut apart by hand. What the engine adds after a prompt (a reply to learn, an option to score)
is appended to each row's tokens: the keys shaped like `input_ids` ("token keys") are taken per row,
extended and padded again; the image keys pass through as the processor made them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from transformers import ProcessorMixin

from dataengine.model.families.base import Family

IGNORE_INDEX = -100  # label value the HF loss skips
PAD_VALUES = {"attention_mask": 0, "labels": IGNORE_INDEX}  # every other token key pads with 0 (input_ids: pad id)


def processed(
    processor: ProcessorMixin, family: Family, texts: Sequence[str], images: Sequence[Image.Image | None]
) -> dict[str, torch.Tensor]:
    """The processor's whole output for rows of a rendered text and an image (or None) each."""
    shown = {"images": family.images_argument(images)} if any(image is not None for image in images) else {}
    output = processor(
        text=list(texts),
        padding=True,
        return_tensors="pt",
        add_special_tokens=family.adds_bos(processor, texts[0]),
        **shown,
    )
    return dict(output)


def token_keys(inputs: dict[str, torch.Tensor]) -> list[str]:
    """The keys with one value per token (input_ids' shape): input_ids, attention_mask, token type ids."""
    shape = inputs["input_ids"].shape
    return [key for key, value in inputs.items() if isinstance(value, torch.Tensor) and value.shape == shape]


def image_inputs(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Everything but the token keys: what the processor made of the images."""
    tokens = set(token_keys(inputs))
    return {key: value for key, value in inputs.items() if key not in tokens}


def rows(inputs: dict[str, torch.Tensor]) -> list[dict[str, list[int]]]:
    """Each row's real tokens (padding dropped), every token key as a list."""
    keys, real = token_keys(inputs), inputs["attention_mask"].bool()
    return [{key: inputs[key][row][real[row]].tolist() for key in keys} for row in range(len(real))]


def extend(row: dict[str, list[int]], ids: Sequence[int]) -> None:
    """Append text tokens to a row: attention 1, every other token key 0 (text, not image)."""
    for key, values in row.items():
        values.extend(ids if key == "input_ids" else [1 if key == "attention_mask" else 0] * len(ids))


def padded(rows: Sequence[dict[str, list[int]]], pad_id: int, side: str) -> dict[str, torch.Tensor]:
    """Rows padded to one width on `side` (left: every row ends in the last column)."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    width = max(len(row["input_ids"]) for row in rows)
    batch = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else PAD_VALUES.get(key, 0)
        tensor = torch.full((len(rows), width), fill, dtype=torch.long)
        for index, row in enumerate(rows):
            values = torch.as_tensor(row[key], dtype=torch.long)
            if side == "left":
                tensor[index, width - len(values) :] = values
            else:
                tensor[index, : len(values)] = values
        batch[key] = tensor
    return batch


def on_device(inputs: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The inputs on `device`, floating ones (pixels) in the model's dtype."""
    return {
        key: value.to(device, dtype if value.is_floating_point() else value.dtype, non_blocking=True)
        for key, value in inputs.items()
    }

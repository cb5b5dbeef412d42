"""A pool image as the readers take it from a dataset's own files (COCO, Visual Genome), with its
captions and boxes normalised to 0-1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceImage:
    """One image of a dataset with its annotations, before staging."""

    image_id: str
    path: Path
    captions: list[str]
    objects: list[dict]  # {"category": str, "box": [x0, y0, x1, y1] in 0-1}


def normalised_box(x: float, y: float, w: float, h: float, width: float, height: float) -> list[float]:
    """A pixel box (x, y, width, height) as [x0, y0, x1, y1] in 0-1, clipped to the image (annotations
    spill over the border by a pixel or so); ValueError saying what is wrong with it."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} is not positive")
    if w < 0 or h < 0:
        raise ValueError(f"box {[x, y, w, h]} has a negative size")
    x0, y0 = min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0)
    x1, y1 = min(max((x + w) / width, 0.0), 1.0), min(max((y + h) / height, 0.0), 1.0)
    return [round(x0, 4), round(y0, 4), round(x1, 4), round(y1, 4)]

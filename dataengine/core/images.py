"""Reading image files: one place that decodes an image to RGB and names the file it cannot read."""

from pathlib import Path

from PIL import Image


def open_rgb(path: Path | str) -> Image.Image:
    """The image at `path` decoded to RGB; an unreadable or missing file is named."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as error:
        raise FileNotFoundError(f"cannot read image {path}: {error}") from error

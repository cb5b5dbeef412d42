"""Rendering scenes with Pillow, byte-for-byte reproducibly, and drawing scenes whose image is new
(the benchmark's splits and the pool never repeat an image)."""

import hashlib
import io

import numpy as np
from PIL import Image, ImageDraw

from dataengine.data.synthetic.scenes import scene_for_type
from dataengine.data.synthetic.world import COLORS, GLYPH_STROKES, GLYPHS, SHAPES, Scene, SceneObject, text_color


def _draw_shape(draw: ImageDraw.ImageDraw, obj: SceneObject, size: int) -> None:
    x0, y0, x1, y1 = (v * size for v in obj.box)
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1) / 2, y0)], fill=fill)
    elif obj.shape == "cross":
        third_w, third_h = (x1 - x0) / 3, (y1 - y0) / 3
        draw.rectangle((x0 + third_w, y0, x1 - third_w - 1, y1 - 1), fill=fill)
        draw.rectangle((x0, y0 + third_h, x1 - 1, y1 - third_h - 1), fill=fill)
    else:
        raise ValueError(f"cannot draw shape {obj.shape!r}; known shapes: {SHAPES}")


def _draw_letter(draw: ImageDraw.ImageDraw, scene: Scene, size: int) -> None:
    if scene.text not in GLYPH_STROKES:
        raise ValueError(f"cannot draw text {scene.text!r}; known letters: {GLYPHS}")
    box = scene.text_box or (0.15, 0.15, 0.85, 0.85)
    x0, y0, x1, y1 = (v * size for v in box)
    width = max(2, round((x1 - x0) * 0.16))
    # Keep strokes inside the box: end points are inset by half the line width.
    inset = width / 2
    ix0, iy0, ix1, iy1 = x0 + inset, y0 + inset, x1 - inset, y1 - inset
    fill = COLORS[text_color(scene)]
    if width >= min(x1 - x0, y1 - y0):  # strokes as wide as the letter cover its box: a blot
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
        return
    if scene.text == "O":
        draw.ellipse((ix0, iy0, ix1, iy1), outline=fill, width=width)
    for stroke in GLYPH_STROKES[scene.text]:
        points = [(ix0 + u * (ix1 - ix0), iy0 + v * (iy1 - iy0)) for u, v in stroke]
        draw.line(points, fill=fill, width=width, joint="curve")


def render(scene: Scene, image_size: int = 64) -> Image.Image:
    """RGB image of the scene; objects drawn in order (later on top), then the letter."""
    image = Image.new("RGB", (image_size, image_size), COLORS[scene.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw_shape(draw, obj, image_size)
    if scene.text is not None:
        _draw_letter(draw, scene, image_size)
    return image


def render_png(scene: Scene, image_size: int = 64) -> bytes:
    """PNG bytes of the scene; Pillow writes no timestamp, so the same scene gives the same bytes."""
    buffer = io.BytesIO()
    render(scene, image_size).save(buffer, format="PNG")
    return buffer.getvalue()


MAX_REDRAWS = 1000  # a family that keeps repeating images is a bug, not bad luck


def draw_unseen_scene(
    qtype: int, rng: np.random.Generator, seen_sha256: set[str], image_size: int = 64, world: str = "default"
) -> tuple[Scene, bytes, str]:
    """A scene of the type's family in `world` whose image hash is not in seen_sha256 (which it
    joins): keeps the benchmark's splits and the pool free of repeated images; returns (scene, png,
    sha256)."""
    for _ in range(MAX_REDRAWS):
        scene = scene_for_type(qtype, rng, world)
        png = render_png(scene, image_size)
        sha = hashlib.sha256(png).hexdigest()
        if sha not in seen_sha256:
            seen_sha256.add(sha)
            return scene, png, sha
    raise RuntimeError(f"type {qtype}: {MAX_REDRAWS} draws in a row repeated an excluded or earlier image")

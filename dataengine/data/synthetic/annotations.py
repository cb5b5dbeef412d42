"""Pool annotations of rendered scenes (docs/contracts.md, "pool/") and their scene graphs back:
what the oracle teacher and the validator read a synthetic image's truth from."""

from dataengine.data.synthetic.captions import caption
from dataengine.data.synthetic.questions import supported_types
from dataengine.data.synthetic.world import COLORS, GLYPHS, SHAPES, SIZES, Scene, SceneObject


def scene_to_annotation(scene: Scene, image_id: str, image: str, sha256: str) -> dict:
    """The pool record of docs/contracts.md for a rendered scene (`image` relative to pool/)."""
    return {
        "image_id": image_id,
        "image": image,
        "sha256": sha256,
        "captions": [caption(scene)],
        "objects": [{"category": o.shape, "color": o.color, "size": o.size, "box": list(o.box)} for o in scene.objects],
        "background": scene.background,
        "text": scene.text,
        "qtypes": supported_types(scene),
    }


def annotation_to_scene(record: dict) -> Scene:
    """The scene graph of a synthetic pool record; a clear error naming the image and key otherwise."""
    image_id = record.get("image_id", "<no image_id>")

    def need(mapping: dict, key: str, allowed, where: str):
        value = mapping.get(key)
        if value not in allowed:
            raise ValueError(f"annotation {image_id}: {where}{key}={value!r} is not one of {sorted(allowed)}")
        return value

    background = need(record, "background", COLORS, "")
    objects = []
    for i, obj in enumerate(record.get("objects") or []):
        where = f"objects[{i}]."
        box = obj.get("box")
        if not (isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            raise ValueError(f"annotation {image_id}: {where}box={box!r} is not 4 numbers")
        objects.append(
            SceneObject(
                need(obj, "category", SHAPES, where),
                need(obj, "color", COLORS, where),
                need(obj, "size", SIZES, where),
                tuple(float(v) for v in box),
            )
        )
    text = record.get("text")
    if text is not None:
        need(record, "text", GLYPHS, "")
    return Scene(background, tuple(objects), text)


def is_synthetic_annotation(record: dict) -> bool:
    """Whether a pool record describes a scene of this world (real pools have no background colour)."""
    return record.get("background") in COLORS

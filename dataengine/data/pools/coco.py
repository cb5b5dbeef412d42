"""COCO: `captions_*.json` (images + caption annotations) and `instances_*.json` (boxes as
[x, y, width, height] in pixels, category ids) -> captions and category boxes normalised to 0-1.
Images are `images[].file_name` under `pool.image_dir`."""

from numbers import Real
from pathlib import Path

from dataengine.core.jsonl import read_json
from dataengine.data.pools.images import SourceImage, normalised_box
from dataengine.data.sources import SourceCheck, SourceError, describe, object_rows, require_keys

SOURCE_KEYS = ("captions", "instances", "image_dir")
IMAGE_KEYS = ("id", "file_name", "width", "height")


def read(cfg: dict, check: SourceCheck) -> list[SourceImage]:
    require_keys(cfg, "pool", "coco", *SOURCE_KEYS)
    captions_path, instances_path = Path(cfg["captions"]), Path(cfg["instances"])
    captions = _annotation_file(captions_path, ("images", "annotations"))
    instances = _annotation_file(instances_path, ("images", "annotations", "categories"))
    images, ids = {}, set()  # ids: every image id seen, bad rows' too, whose annotations are not reported again
    for where, image in object_rows(captions["images"], f"{captions_path}: images", "id", check):
        if "id" in image and not check.unique(image["id"], ids, where):
            continue
        missing = [key for key in IMAGE_KEYS if key not in image]
        if missing:
            check.bad(where, f"missing keys {missing}")
        elif not all(isinstance(image[key], Real) and image[key] > 0 for key in ("width", "height")):
            check.bad(where, f"width and height must be positive numbers, got {image['width']!r}x{image['height']!r}")
        else:
            images[image["id"]] = image
    categories = {}
    for where, category in object_rows(instances["categories"], f"{instances_path}: categories", "id", check):
        if "id" not in category or not isinstance(category.get("name"), str):
            check.bad(where, "needs an id and a name")
        else:
            categories[category["id"]] = category["name"]
    texts: dict[int, list[str]] = {}
    for where, annotation in object_rows(captions["annotations"], f"{captions_path}: annotations", "id", check):
        if annotation.get("image_id") not in ids or not isinstance(annotation.get("caption"), str):
            check.bad(where, "needs an image_id of the file's images and a caption string")
        elif annotation["image_id"] in images:
            texts.setdefault(annotation["image_id"], []).append(annotation["caption"].strip())
    boxes: dict[int, list[dict]] = {}
    for where, annotation in object_rows(instances["annotations"], f"{instances_path}: annotations", "id", check):
        image = images.get(annotation.get("image_id"))
        if image is None:
            if annotation.get("image_id") not in ids:
                check.drop("boxes of images without captions")
            continue
        bbox = annotation.get("bbox")
        if annotation.get("category_id") not in categories or not _numbers(bbox, 4):
            check.bad(where, "needs a category_id of the file's categories and a bbox of 4 numbers")
            continue
        try:
            box = normalised_box(*bbox, image["width"], image["height"])
        except ValueError as error:
            check.bad(where, str(error))
            continue
        boxes.setdefault(image["id"], []).append({"category": categories[annotation["category_id"]], "box": box})
    root = Path(cfg["image_dir"])
    return [
        SourceImage(f"coco-{image_id}", root / image["file_name"], texts.get(image_id, []), boxes.get(image_id, []))
        for image_id, image in sorted(images.items())
    ]


def _annotation_file(path: Path, keys: tuple[str, ...]) -> dict:
    """A COCO annotation file, after checking its top-level shape."""
    data = read_json(path)
    expected = f"expected a COCO annotation file, an object with the lists {list(keys)}"
    if not isinstance(data, dict):
        raise SourceError(f"{path}: {expected}; got {describe(data)}")
    wrong = [key for key in keys if not isinstance(data.get(key), list)]
    if wrong:
        raise SourceError(f"{path}: {expected}; {wrong} missing or not lists")
    return data


def _numbers(value, count: int) -> bool:
    return isinstance(value, list) and len(value) == count and all(isinstance(v, Real) for v in value)

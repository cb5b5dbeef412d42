"""COCO: `captions_*.json` (images + caption annotations) and `instances_*.json` (boxes as
[x, y, width, height] in pixels, category ids) -> captions and category boxes normalised to 0-1.
Images are `images[].file_name` under `pool.image_dir`."""

from pathlib import Path

from dataengine.jsonl import read_json
from dataengine.pools import SourceImage, normalised_box, require


def read(cfg: dict) -> list[SourceImage]:
    require(cfg, "coco", "captions", "instances", "image_dir")
    captions_path, instances_path = Path(cfg["captions"]), Path(cfg["instances"])
    captions, instances = read_json(captions_path), read_json(instances_path)
    for path, data, keys in ((captions_path, captions, ("images", "annotations")),
                             (instances_path, instances, ("images", "annotations", "categories"))):  # fmt: skip
        missing = [key for key in keys if key not in data]
        if missing:
            raise ValueError(f"{path}: missing keys {missing} (is this a COCO annotation file?)")
    images = {}
    for row, image in enumerate(captions["images"]):
        missing = [key for key in ("id", "file_name", "width", "height") if key not in image]
        if missing:
            raise ValueError(f"{captions_path}: images[{row}] missing keys {missing}")
        images[image["id"]] = image
    categories = {c["id"]: c["name"] for c in instances["categories"]}
    texts: dict[int, list[str]] = {}
    for row, annotation in enumerate(captions["annotations"]):
        where = f"{captions_path}: annotations[{row}]"
        if annotation.get("image_id") not in images or not isinstance(annotation.get("caption"), str):
            raise ValueError(f"{where}: needs an image_id of the file's images and a caption string")
        texts.setdefault(annotation["image_id"], []).append(annotation["caption"].strip())
    boxes: dict[int, list[dict]] = {}
    for row, annotation in enumerate(instances["annotations"]):
        where = f"{instances_path}: annotations[{row}] (id {annotation.get('id')!r})"
        image = images.get(annotation.get("image_id"))
        if image is None:
            continue  # an image without captions: not in the pool
        if annotation.get("category_id") not in categories or len(annotation.get("bbox") or []) != 4:
            raise ValueError(f"{where}: needs a known category_id and a 4-number bbox")
        box = normalised_box(*annotation["bbox"], image["width"], image["height"], where)
        boxes.setdefault(image["id"], []).append({"category": categories[annotation["category_id"]], "box": box})
    root = Path(cfg["image_dir"])
    return [
        SourceImage(f"coco-{image_id}", root / image["file_name"], texts.get(image_id, []), boxes.get(image_id, []))
        for image_id, image in sorted(images.items())
    ]

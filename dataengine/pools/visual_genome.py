"""Visual Genome: `objects.json` ([{"image_id", "objects": [{"x", "y", "w", "h", "names"}]}]) and,
optionally, `region_descriptions.json` ([{"id", "regions": [{"phrase", ...}]}]) whose phrases serve
as captions. Images are `<image_id>.jpg` under `pool.image_dir` (VG_100K and VG_100K_2 merged, or a
list of both folders); the image size that normalises the boxes is read from the file's header."""

from pathlib import Path

from PIL import Image

from dataengine.jsonl import read_json
from dataengine.pools import SourceImage, normalised_box, require


def read(cfg: dict) -> list[SourceImage]:
    require(cfg, "visual_genome", "objects", "image_dir")
    objects_path = Path(cfg["objects"])
    folders = [Path(p) for p in ([cfg["image_dir"]] if isinstance(cfg["image_dir"], str) else cfg["image_dir"])]
    phrases: dict[int, list[str]] = {}
    if cfg.get("regions"):
        for row, entry in enumerate(read_json(cfg["regions"])):
            if "id" not in entry or not isinstance(entry.get("regions"), list):
                raise ValueError(f"{cfg['regions']}: row {row} needs 'id' and a 'regions' list")
            phrases[entry["id"]] = [r["phrase"].strip() for r in entry["regions"] if r.get("phrase")]
    sources = []
    for row, entry in enumerate(read_json(objects_path)):
        where = f"{objects_path}: row {row} (image_id {entry.get('image_id')!r})"
        if "image_id" not in entry or not isinstance(entry.get("objects"), list):
            raise ValueError(f"{where}: needs 'image_id' and an 'objects' list")
        image_id = entry["image_id"]
        path = next((f / f"{image_id}.jpg" for f in folders if (f / f"{image_id}.jpg").is_file()), folders[0] / f"{image_id}.jpg")
        objects = []
        if path.is_file():  # a missing image is reported with all the others by the pool builder
            with Image.open(path) as image:
                width, height = image.size
            for i, obj in enumerate(entry["objects"]):
                if not obj.get("names") or any(k not in obj for k in ("x", "y", "w", "h")):
                    raise ValueError(f"{where}: objects[{i}] needs names and x, y, w, h")
                box = normalised_box(obj["x"], obj["y"], obj["w"], obj["h"], width, height, f"{where}: objects[{i}]")
                objects.append({"category": obj["names"][0], "box": box})
        sources.append(SourceImage(f"vg-{image_id}", path, phrases.get(image_id, []), objects))
    return sources

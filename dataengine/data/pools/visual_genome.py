"""Visual Genome: `objects.json` ([{"image_id", "objects": [{"x", "y", "w", "h", "names"}]}]) and,
optionally, `region_descriptions.json` ([{"id", "regions": [{"phrase", ...}]}]) whose phrases serve
as captions. Images are `<image_id>.jpg` under `pool.image_dir` (VG_100K and VG_100K_2 merged, or a
list of both folders); the image size that normalises the boxes is read from the file's header."""

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dataengine.core.jsonl import read_json
from dataengine.data.pools.images import SourceImage, normalised_box
from dataengine.data.sources import SourceCheck, SourceError, describe, object_rows, require_keys

SOURCE_KEYS = ("objects", "regions", "image_dir")


def read(cfg: dict, check: SourceCheck) -> list[SourceImage]:
    require_keys(cfg, "pool", "visual_genome", "objects", "image_dir")
    objects_path = Path(cfg["objects"])
    folders = [Path(p) for p in ([cfg["image_dir"]] if isinstance(cfg["image_dir"], str) else cfg["image_dir"])]
    phrases: dict[int, list[str]] = {}
    if cfg.get("regions"):
        regions_path = Path(cfg["regions"])
        for where, entry in object_rows(
            _list_file(regions_path, "region descriptions"), f"{regions_path}: row", "id", check
        ):
            if "id" not in entry or not isinstance(entry.get("regions"), list):
                check.bad(where, "needs 'id' and a 'regions' list")
                continue
            found = [r.get("phrase") for r in entry["regions"] if isinstance(r, dict)]
            phrases[entry["id"]] = [phrase.strip() for phrase in found if isinstance(phrase, str) and phrase.strip()]
    sources, ids = [], set()
    for where, entry in object_rows(_list_file(objects_path, "objects"), f"{objects_path}: row", "image_id", check):
        if "image_id" not in entry or not isinstance(entry.get("objects"), list):
            check.bad(where, "needs 'image_id' and an 'objects' list")
            continue
        image_id = entry["image_id"]
        if not check.unique(image_id, ids, where):
            continue
        path = next(
            (f / f"{image_id}.jpg" for f in folders if (f / f"{image_id}.jpg").is_file()),
            folders[0] / f"{image_id}.jpg",
        )
        objects = []
        if path.is_file():  # a missing image is reported with all the others by the pool builder
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except (UnidentifiedImageError, OSError) as error:
                check.bad(where, f"image {path} cannot be read ({error})")
                continue
            for i, obj in enumerate(entry["objects"]):
                if not isinstance(obj, dict) or not obj.get("names") or any(k not in obj for k in ("x", "y", "w", "h")):
                    check.bad(where, f"objects[{i}] needs names and x, y, w, h")
                    continue
                try:
                    box = normalised_box(obj["x"], obj["y"], obj["w"], obj["h"], width, height)
                except (TypeError, ValueError) as error:
                    check.bad(where, f"objects[{i}]: {error}")
                    continue
                objects.append({"category": obj["names"][0], "box": box})
        sources.append(SourceImage(f"vg-{image_id}", path, phrases.get(image_id, []), objects))
    return sources


def _list_file(path: Path, what: str) -> list:
    """A Visual Genome JSON file, after checking it is a list."""
    data = read_json(path)
    if not isinstance(data, list):
        raise SourceError(f"{path}: expected Visual Genome's {what} JSON, a list; got {describe(data)}")
    return data

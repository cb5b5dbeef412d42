"""Image embeddings for Adaptive Bad-case Sampling's "similar image" anchor.

The paper ranks pool images by CLIP similarity to a bad case's image. `clip_encoder` does that with
a CLIP model loaded from a local folder through transformers; `embed_images` is the offline
fall-back without model weights: a small colour layout + gradient-orientation descriptor, which is
deterministic, fast (thousands of small images per second) and good enough to rank the synthetic
scenes. Both are an `Embed`: paths -> unit-norm rows whose dot product means similarity. The pool's
rows are computed once per run (`embed_pool` rule) and served from that cache by `cached`.
"""

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from dataengine.core.images import open_rgb
from dataengine.core.joblog import progress

Embed = Callable[[Sequence[Path]], np.ndarray]
ENCODERS = ("offline", "clip")

_CHUNK = 4096  # images decoded at once by the offline encoder
_GRID = 16  # images are box-filtered to GRID x GRID before any feature is computed
_COLOUR_CELLS = 8  # colour layout: COLOUR_CELLS x COLOUR_CELLS mean RGB
_GRADIENT_CELLS = 2  # gradient histograms: GRADIENT_CELLS x GRADIENT_CELLS spatial cells
_ORIENTATIONS = 8  # unsigned orientation bins over [0, pi)

EMBEDDING_DIM = _COLOUR_CELLS**2 * 3 + _GRADIENT_CELLS**2 * _ORIENTATIONS


def embed_images(paths: Sequence[Path]) -> np.ndarray:
    """Embed images as L2-normalised float32 rows (n x EMBEDDING_DIM), in the order given, a chunk of
    images at a time."""
    chunks = [_embed_chunk(paths[start : start + _CHUNK]) for start in range(0, len(paths), _CHUNK)]
    return np.concatenate(chunks) if chunks else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)


def _embed_chunk(paths: Sequence[Path]) -> np.ndarray:
    pixels = np.stack([_load_small(Path(p)) for p in paths])  # n x GRID x GRID x 3, in [0, 1]
    colour = _block_mean(pixels, _COLOUR_CELLS).reshape(len(paths), -1) - 0.5
    gradient = _gradient_histograms(pixels.mean(axis=3))
    # Each block gets unit norm first so neither dominates by its size; centring the colours on
    # mid-grey keeps cosine similarity from saturating near 1 for all-positive features.
    vectors = np.concatenate([_unit_rows(colour), _unit_rows(gradient)], axis=1)
    return _unit_rows(vectors).astype(np.float32)


def clip_encoder(
    model_path: str | Path, batch_size: int = 64, dtype: str = "float32", loader_workers: int = 0
) -> Embed:
    """CLIP image embeddings (the projection the model compares with text), from a local folder only,
    in `dtype` (bfloat16 halves a GPU's time). Runs on the GPU when there is one; the model is loaded
    once per encoder, and `loader_workers` processes decode and preprocess the images ahead of it."""
    import torch
    from transformers import CLIPImageProcessorPil, CLIPModel

    from dataengine.core.streaming import pixel_values, stream

    path = Path(model_path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no CLIP model folder at {path} (config.json missing)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = CLIPModel.from_pretrained(path, local_files_only=True, dtype=getattr(torch, dtype)).to(device).eval()
    # The PIL backend by name: AutoImageProcessor of transformers < 5.24 insists on torchvision.
    processor = CLIPImageProcessorPil.from_pretrained(path, local_files_only=True)

    def embed(paths: Sequence[Path]) -> np.ndarray:
        chunks = [paths[start : start + batch_size] for start in range(0, len(paths), batch_size)]
        batches = stream(partial(pixel_values, processor), chunks, loader_workers, device)
        rows = []
        with torch.inference_mode():
            for pixels in progress(batches, desc="embed", total=len(chunks), unit="batch"):
                pixels = pixels.to(device, model.dtype, non_blocking=True)
                rows.append(model.get_image_features(pixel_values=pixels).pooler_output.float().cpu().numpy())
        width = model.config.projection_dim
        return _unit_rows(np.concatenate(rows) if rows else np.zeros((0, width))).astype(np.float32)

    return embed


def image_encoder(cfg: dict, loader_workers: int = 0) -> Embed:
    """The encoder a `retrieval` config names: {"encoder": "offline"} or {"encoder": "clip", "model":
    path, "batch_size", "dtype"}."""
    if cfg["encoder"] == "offline":
        return embed_images
    if cfg["encoder"] == "clip":
        if not cfg.get("model"):
            raise ValueError("retrieval.encoder 'clip' needs retrieval.model (a local CLIP folder)")
        return clip_encoder(cfg["model"], cfg.get("batch_size", 64), cfg.get("dtype", "float32"), loader_workers)
    raise ValueError(f"unknown retrieval.encoder {cfg['encoder']!r}; known: {ENCODERS}")


def save_embeddings(path: Path, images: Sequence[str], vectors: np.ndarray) -> None:
    """Write the pool cache: image paths (relative to the pool folder) and their rows, in one .npz."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, images=np.asarray(list(images), dtype=str), vectors=vectors)
    tmp.replace(path)


def cached(embed: Embed, cache: Path, root: Path) -> Embed:
    """`embed` that serves the images of the pool cache (paths under `root`) from it and computes the
    rest (the benchmark's anchor images), so the pool is embedded once per run, not per iteration."""
    with np.load(cache) as data:
        rows = {Path(root) / image: vector for image, vector in zip(data["images"].tolist(), data["vectors"])}

    def lookup(paths: Sequence[Path]) -> np.ndarray:
        paths = [Path(p) for p in paths]
        missing = [p for p in paths if p not in rows]
        computed = dict(zip(missing, embed(missing))) if missing else {}
        if not paths:
            return np.zeros((0, next(iter(rows.values())).shape[0] if rows else 0), dtype=np.float32)
        return np.stack([rows[p] if p in rows else computed[p] for p in paths]).astype(np.float32)

    return lookup


def top_k_similar(
    query_vecs: np.ndarray, pool_vecs: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Indices (n_query x min(k, n_allowed)) of the most similar pool rows, most similar first.

    `allowed` (bool, one per pool row) restricts the candidates, so a caller can exclude images
    already taken without copying the pool. Ties go to the lower pool index, for determinism.
    """
    if k < 1:
        raise ValueError(f"top_k_similar: k must be >= 1, got {k}")
    query_vecs = np.atleast_2d(query_vecs)
    if query_vecs.shape[1] != pool_vecs.shape[1]:
        raise ValueError(f"top_k_similar: query dimension {query_vecs.shape[1]} != pool dimension {pool_vecs.shape[1]}")
    similarity = query_vecs @ pool_vecs.T
    n_allowed = len(pool_vecs)
    if allowed is not None:
        similarity[:, ~allowed] = -np.inf
        n_allowed = int(np.count_nonzero(allowed))
    # Stable sort on the negated similarity: descending, ties by ascending pool index.
    return np.argsort(-similarity, axis=1, kind="stable")[:, : min(k, n_allowed)]


def _load_small(path: Path) -> np.ndarray:
    small = open_rgb(path).resize((_GRID, _GRID), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _block_mean(array: np.ndarray, cells: int) -> np.ndarray:
    """Mean over equal square blocks of axes 1 and 2 (n x H x W [x C] -> n x cells x cells [x C])."""
    n, height, width = array.shape[:3]
    blocked = array.reshape(n, cells, height // cells, cells, width // cells, *array.shape[3:])
    return blocked.mean(axis=(2, 4))


def _gradient_histograms(gray: np.ndarray) -> np.ndarray:
    """Magnitude-weighted orientation histograms per spatial cell: the shapes' edges, not colours."""
    dy, dx = np.gradient(gray, axis=(1, 2))
    magnitude = np.hypot(dx, dy)
    orientation = np.mod(np.arctan2(dy, dx), np.pi)
    bins = np.minimum((orientation / np.pi * _ORIENTATIONS).astype(np.int64), _ORIENTATIONS - 1)
    one_hot = (bins[..., None] == np.arange(_ORIENTATIONS)) * magnitude[..., None]
    return _block_mean(one_hot, _GRADIENT_CELLS).reshape(len(gray), -1)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)

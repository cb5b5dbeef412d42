"""Offline image embeddings for Adaptive Bad-case Sampling's "similar image" anchor.

The paper ranks pool images by CLIP similarity to a bad case's image. Offline we need the same
interface without model weights: a small colour layout + gradient-orientation descriptor, which is
deterministic, fast (thousands of small images per second) and good enough to rank the synthetic
scenes. A CLIP encoder can replace `embed_images` later; callers only rely on unit-norm rows whose
dot product means similarity.
"""

from pathlib import Path

import numpy as np
from PIL import Image

_GRID = 16  # images are box-filtered to GRID x GRID before any feature is computed
_COLOUR_CELLS = 8  # colour layout: COLOUR_CELLS x COLOUR_CELLS mean RGB
_GRADIENT_CELLS = 2  # gradient histograms: GRADIENT_CELLS x GRADIENT_CELLS spatial cells
_ORIENTATIONS = 8  # unsigned orientation bins over [0, pi)

EMBEDDING_DIM = _COLOUR_CELLS**2 * 3 + _GRADIENT_CELLS**2 * _ORIENTATIONS


def embed_images(paths: list[Path]) -> np.ndarray:
    """Embed images as L2-normalised float32 rows (n x EMBEDDING_DIM), in the order given."""
    if not paths:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    pixels = np.stack([_load_small(Path(p)) for p in paths])  # n x GRID x GRID x 3, in [0, 1]
    colour = _block_mean(pixels, _COLOUR_CELLS).reshape(len(paths), -1) - 0.5
    gradient = _gradient_histograms(pixels.mean(axis=3))
    # Each block gets unit norm first so neither dominates by its size; centring the colours on
    # mid-grey keeps cosine similarity from saturating near 1 for all-positive features.
    vectors = np.concatenate([_unit_rows(colour), _unit_rows(gradient)], axis=1)
    return _unit_rows(vectors).astype(np.float32)


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
        raise ValueError(
            f"top_k_similar: query dimension {query_vecs.shape[1]} != pool dimension {pool_vecs.shape[1]}"
        )
    similarity = query_vecs @ pool_vecs.T
    n_allowed = len(pool_vecs)
    if allowed is not None:
        similarity[:, ~allowed] = -np.inf
        n_allowed = int(np.count_nonzero(allowed))
    # Stable sort on the negated similarity: descending, ties by ascending pool index.
    return np.argsort(-similarity, axis=1, kind="stable")[:, : min(k, n_allowed)]


def _load_small(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            small = image.convert("RGB").resize((_GRID, _GRID), Image.Resampling.BOX)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error
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

"""Contamination guard: nothing of the benchmark may reach training data.

Two checks. Images: the pool never holds an image whose content (SHA-256) is the benchmark's
(`benchmark_hashes`, used when any pool is built). Questions: a generated sample that is a
near-duplicate of a benchmark item (same or nearly the same question with the same options) is
dropped with the reason `contamination` (`drop_near_duplicates`, run by the validate stage), since
a teacher shown benchmark bad cases as in-context examples may copy one.
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dataengine.data.pool import image_sha256

CONTAMINATION = "contamination"
MODES = ("auto", "on", "off")
RARE_SHARE = 0.01  # shingles in more items than this share find too many candidates to compare


def benchmark_hashes(items: pl.DataFrame, benchmark_dir: Path) -> set[str]:
    """Content hashes of every benchmark image."""
    return {image_sha256(Path(benchmark_dir) / image) for image in items["image"].unique()}


def _shingles(question: str, options) -> frozenset:
    """Word pairs of the question plus each whole option: word order matters in the question (so
    "left of the dog" differs from "left of the cat"), option order does not (samples shuffle them)."""
    words = re.findall(r"\w+", question.lower())
    pairs = {(a, b) for a, b in zip(words, words[1:])} or {(w,) for w in words}
    return frozenset(pairs | {("option", " ".join(re.findall(r"\w+", o.lower()))) for o in options})


@dataclass(frozen=True)
class QuestionIndex:
    """Benchmark items by shingle, to find a sample's near-duplicates without comparing with all."""

    ids: list[str]
    shingles: list[frozenset]
    postings: dict

    @classmethod
    def build(cls, items: pl.DataFrame) -> "QuestionIndex":
        ids = items["id"].to_list()
        shingles = [_shingles(q, o) for q, o in zip(items["question"].to_list(), items["options"].to_list())]
        postings = defaultdict(list)
        for i, item_shingles in enumerate(shingles):
            for shingle in item_shingles:
                postings[shingle].append(i)
        cap = max(1, int(RARE_SHARE * len(ids)))
        return cls(ids, shingles, {s: rows for s, rows in postings.items() if len(rows) <= cap})

    def nearest(self, question: str, options) -> tuple[str | None, float]:
        """(benchmark id, Jaccard similarity) of the most similar item sharing a distinctive shingle."""
        mine = _shingles(question, options)
        candidates = {row for shingle in mine for row in self.postings.get(shingle, ())}
        best, score = None, 0.0
        for row in sorted(candidates):
            theirs = self.shingles[row]
            similarity = len(mine & theirs) / len(mine | theirs)
            if similarity > score:
                best, score = self.ids[row], similarity
        return best, score


def drop_near_duplicates(accepted: list[dict], index: QuestionIndex, threshold: float) -> tuple[list[dict], list[dict]]:
    """(kept samples, rejections) where a rejection names the benchmark item it duplicates."""
    kept, rejected = [], []
    for sample in accepted:
        item_id, similarity = index.nearest(sample["instruction"], sample["options"])
        if item_id is not None and similarity >= threshold:
            rejected.append(
                {
                    "query_id": sample["query_id"],
                    "reason": CONTAMINATION,
                    "content": json.dumps(sample, ensure_ascii=False),
                    "detail": f"near-duplicate of benchmark item {item_id} (similarity {similarity:.2f})",
                }
            )
        else:
            kept.append(sample)
    return kept, rejected


def questions_checked(mode: str, benchmark_kind: str) -> bool:
    """`auto` checks real benchmarks only: the synthetic benchmark and the oracle teacher share
    question templates by construction, on images that are disjoint by hash, so equal wording
    there is not leakage."""
    if mode not in MODES:
        raise ValueError(f"contamination.questions must be one of {MODES}, got {mode!r}")
    return mode == "on" or (mode == "auto" and benchmark_kind != "synthetic")

"""`dataengine evaluate`: a model folder's scores on a built benchmark, outside the loop, one JSON line
per item (what users otherwise do with lmms-eval), batched as the loop scores or, with `reference`,
each item alone (dataengine.eval.reference), so that anyone can check one against the other.

Each line: `id`, `prompt` (the text exactly as handed to the processor with the item's image: chat
template applied, generation prompt added, image placeholder not yet expanded), `scores` (one per
option, in option order) and `prediction` (the letter, or null when a generated reply names none).
"""

from __future__ import annotations

from pathlib import Path

from dataengine.core.formats import LETTERS
from dataengine.core.jsonl import write_jsonl
from dataengine.data.benchmark import load_items
from dataengine.eval.evaluate import score_batches
from dataengine.eval.reference import reference_scores
from dataengine.model.student import load_student


def score_folder(
    model_dir: Path,
    benchmark_dir: Path,
    scorer: str,
    out: Path,
    batch_size: int = 16,
    reference: bool = False,
    dtype: str = "float32",
    family: str = "auto",
) -> int:
    """Score every item of `benchmark_dir`/items.parquet with the model at `model_dir`; write `out`
    (JSONL, in the items' order) and return how many items were scored."""
    items = load_items(Path(benchmark_dir) / "items.parquet")
    model, processor = load_student(model_dir, dtype=dtype, family=family)
    lines: list[dict | None] = [None] * items.height
    ids = items["id"].to_list()
    if reference:
        for row, prompt, scores in reference_scores(model, processor, items, benchmark_dir, scorer):
            lines[row] = _line(ids[row], prompt, scores, scorer)
    else:
        for rows, prompts, batch_scores, _ in score_batches(model, processor, items, benchmark_dir, scorer, batch_size):
            for row, prompt, scores in zip(rows, prompts, batch_scores, strict=True):
                lines[row] = _line(ids[row], prompt, scores, scorer)
    write_jsonl(out, lines)
    return items.height


def _line(item_id: str, prompt: str, scores: list[float], scorer: str) -> dict:
    named = scorer != "generate" or any(scores)  # a generated reply that names no option predicts nothing
    prediction = LETTERS[max(range(len(scores)), key=scores.__getitem__)] if named else None
    return {"id": item_id, "prompt": prompt, "scores": scores, "prediction": prediction}

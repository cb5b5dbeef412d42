"""Scoring benchmark items, per-type metrics with Wilson intervals, and the dev split's bad cases.

Three scoring methods sit behind `score_items`: option-text likelihood (SEED-Bench's original protocol,
the one a tiny model can learn), answer-letter likelihood (how real MLLMs are usually scored), and
greedy generation with choice extraction. Items with a `group` (MMBench's CircularEval rotations)
are also reported circularly: a group counts as right only when every rotation is.
"""

import math
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import polars as pl
import torch
from tqdm import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from dataengine.benchmark import GROUP_COLUMN
from dataengine.formats import LETTERS, lettered_prompt, question_prompt
from dataengine.student import encode_prompts, load_pixels, pad_batch

METHODS = ("option_text", "letter", "generate")
ITEM_COLUMNS = ("id", "image", "qtype", "question", "options", "answer", "split")
MAX_NEW_TOKENS = 16
WILSON_Z = 1.959963984540054  # two-sided 95 %

_LONE_LETTER = re.compile(r"\(?([A-Da-d])\)?[.:]?")  # the whole reply is a letter: "B", "(b)", "C."
# An LLM that reads the choice from a reply when the rules cannot: (question, options, reply) -> letter
# or None. The last fall-back of `generate` scoring, as in MMBench's evaluation (dataengine.extractor).
Extractor = Callable[[str, Sequence[str], str], str | None]

_LEADING_LETTER = re.compile(r"\(?([A-D])[.):](?:\s|$)")  # "B. red", "(C) two"; upper case only,
# so that the article "a" opening a sentence is not read as a choice


def score_items(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    items: pl.DataFrame,
    image_root: Path,
    method: str,
    batch_size: int,
    extractor: Extractor | None = None,
) -> pl.DataFrame:
    """One prediction per item (predictions.parquet's columns; 'generate' adds `extraction`, saying
    which rule read the choice from the reply: letter, option_text, llm (`extractor`) or none; items
    with a `group` keep it)."""
    if method not in METHODS:
        raise ValueError(f"unknown scoring method {method!r}; known: {METHODS}")
    _check_items(items)
    paths = sorted({Path(image_root) / image for image in items["image"]})
    pixels = load_pixels(processor, paths)
    image_index = {path: i for i, path in enumerate(paths)}
    item_images = torch.tensor([image_index[Path(image_root) / image] for image in items["image"]])
    questions, options = items["question"].to_list(), items["options"].to_list()
    generate = partial(_generated_choices, extractor=extractor)
    scorer = {"option_text": _option_text_scores, "letter": _letter_scores, "generate": generate}[method]

    model.eval()
    scores, extractions = [], []
    with torch.inference_mode():
        for start in tqdm(range(0, items.height, batch_size), desc=f"score ({method})", unit="batch", disable=None):
            batch = slice(start, start + batch_size)
            batch_pixels = pixels[item_images[batch]].to(model.device, model.dtype)
            batch_scores, batch_extractions = scorer(model, processor, questions[batch], options[batch], batch_pixels)
            scores += batch_scores
            extractions += batch_extractions
    predictions = [_argmax_letter(row) for row in scores]
    if method == "generate":
        predictions = [p if how != "none" else None for p, how in zip(predictions, extractions)]
    out = items.select("id", pl.col("qtype").cast(pl.Int64), "split", "answer").with_columns(
        prediction=pl.Series(predictions, dtype=pl.String),
        scores=pl.Series(scores, dtype=pl.List(pl.Float64)),
    )
    out = out.with_columns(correct=(pl.col("prediction") == pl.col("answer")).fill_null(False))
    out = out.select("id", "qtype", "split", "answer", "prediction", "correct", "scores")
    if GROUP_COLUMN in items.columns:
        out = out.with_columns(items[GROUP_COLUMN])
    return out.with_columns(extraction=pl.Series(extractions, dtype=pl.String)) if method == "generate" else out


def _check_items(items: pl.DataFrame) -> None:
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise KeyError(f"benchmark items lack the columns {missing}; have {items.columns}")
    for row in items.select("id", "options", "answer").iter_rows(named=True):
        n = len(row["options"] or [])
        if not 2 <= n <= len(LETTERS) or row["answer"] not in LETTERS[:n]:
            raise ValueError(f"item {row['id']!r}: need 2-{len(LETTERS)} options and an answer letter among "
                             f"them, got {row['options']!r} / {row['answer']!r}")  # fmt: skip


def _argmax_letter(scores: Sequence[float]) -> str:
    return LETTERS[max(range(len(scores)), key=scores.__getitem__)]


def _option_text_scores(model, processor, questions, options, pixels) -> tuple[list[list[float]], list[None]]:
    """Mean log-likelihood per option token after the question: the mean, not the sum, so an option
    is not preferred for being short (the sum adds a negative term per token), which matters when
    options differ in length ("red" vs "dark red"); with one-token options the two rank alike.
    All options of the batch's items run in one left-padded forward that keeps only the last logits."""
    tokenizer = processor.tokenizer
    prompts = encode_prompts(processor, [question_prompt(q) for q in questions], pixels)
    owners = [i for i, opts in enumerate(options) for _ in opts]
    option_ids = tokenizer([o for opts in options for o in opts], add_special_tokens=False)["input_ids"]
    for owner, ids in zip(owners, option_ids):
        if not ids:
            raise ValueError(f"an option of question {questions[owner]!r} has no tokens: {options[owner]!r}")
    sequences = [prompts[i] + ids for i, ids in zip(owners, option_ids)]
    batch = pad_batch(sequences, tokenizer.pad_token_id, "left", model.device)
    keep = max(map(len, option_ids)) + 1
    logits = model(**batch, pixel_values=pixels[owners], logits_to_keep=keep).logits.float()
    # logits[:, j] predicts the token at kept position j + 1; option tokens are each row's last ones.
    log_probs = logits[:, :-1].log_softmax(-1)
    targets = batch["input_ids"][:, -(keep - 1) :]
    token_scores = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    lengths = torch.tensor([len(ids) for ids in option_ids], device=model.device)
    is_option = torch.arange(keep - 1, device=model.device) >= (keep - 1 - lengths).unsqueeze(1)
    means = ((token_scores * is_option).sum(-1) / lengths).tolist()
    scores = [[] for _ in questions]
    for owner, value in zip(owners, means):
        scores[owner].append(value)
    return scores, [None] * len(questions)


def _letter_scores(model, processor, questions, options, pixels) -> tuple[list[list[float]], list[None]]:
    """Next-token log-probabilities of the option letters after LLaVA's multiple-choice prompt."""
    tokenizer = processor.tokenizer
    letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in LETTERS]
    prompts = encode_prompts(processor, [lettered_prompt(q, o) for q, o in zip(questions, options)], pixels)
    batch = pad_batch(prompts, tokenizer.pad_token_id, "left", model.device)
    log_probs = model(**batch, pixel_values=pixels, logits_to_keep=1).logits[:, -1].float().log_softmax(-1)
    return [log_probs[i, letter_ids[: len(o)]].tolist() for i, o in enumerate(options)], [None] * len(questions)


def _generated_choices(
    model, processor, questions, options, pixels, extractor: Extractor | None
) -> tuple[list[list[float]], list[str]]:
    """Greedy replies to the multiple-choice prompt, read as a choice; score 1 for it, 0 elsewhere.
    The `extractor`, when given, is asked (one call per reply) only about replies the rules cannot read."""
    replies = _generate_replies(model, processor, questions, options, pixels)
    scores, extractions = [], []
    for question, reply, opts in zip(questions, replies, options):
        letter, how = extract_choice(reply, opts, question, extractor)
        scores.append([float(letter == LETTERS[i]) for i in range(len(opts))])
        extractions.append(how)
    return scores, extractions


def _generate_replies(model, processor, questions, options, pixels) -> list[str]:
    """The model's greedy replies (at most MAX_NEW_TOKENS tokens) to LLaVA's multiple-choice prompt."""
    tokenizer = processor.tokenizer
    prompts = encode_prompts(processor, [lettered_prompt(q, o) for q, o in zip(questions, options)], pixels)
    batch = pad_batch(prompts, tokenizer.pad_token_id, "left", model.device)
    generated = model.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        pixel_values=pixels,
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
    )
    return tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def extract_choice(
    reply: str, options: Sequence[str], question: str = "", extractor: Extractor | None = None
) -> tuple[str | None, str]:
    """(letter, rule) read from a generated reply: a letter first, then a unique option text, then the
    LLM `extractor` when one is given; rule 'none' when all fail."""
    text = reply.strip()
    for match in (_LONE_LETTER.fullmatch(text), _LEADING_LETTER.match(text)):
        if match and match[1].upper() in LETTERS[: len(options)]:
            return match[1].upper(), "letter"
    normalised = _normalise(text)
    words = [_normalise(option) for option in options]
    exact = [i for i, option in enumerate(words) if option == normalised]
    contained = [i for i, option in enumerate(words) if option and re.search(rf"\b{re.escape(option)}\b", normalised)]
    for hits in (exact, contained):
        if len(hits) == 1:
            return LETTERS[hits[0]], "option_text"
    if extractor is not None:
        letter = extractor(question, options, reply)
        if letter in tuple(LETTERS[: len(options)]):  # a tuple: None, "" or "AB" are no letter
            return letter, "llm"
    return None, "none"


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def wilson_interval(correct: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a proportion, as fractions; better than the normal interval near 0 or 1
    and for the small per-type counts of a dev split."""
    if n == 0:
        raise ValueError("a Wilson interval needs at least one item")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _accuracy(correct: int, n: int) -> dict:
    low, high = wilson_interval(correct, n)
    return {"acc": round(100 * correct / n, 3), "n": n, "ci_low": round(100 * low, 3), "ci_high": round(100 * high, 3)}


def metrics(predictions: pl.DataFrame, scoring: str) -> dict:
    """metrics.json: accuracy (%) with Wilson 95 % bounds per split, overall and per type id; with a
    `group` column also `circular`, the same over groups, a group right only if all its items are;
    with an `extraction` column (`generate` scoring) also `extraction`, the items each rule decided
    (letter, option_text, llm, none; a rule that decided none is absent), overall and per split."""
    splits = {}
    for split in sorted(predictions["split"].unique()):
        rows = predictions.filter(pl.col("split") == split)
        splits[split] = _split_accuracy(rows)
        if GROUP_COLUMN in rows.columns:
            groups = rows.group_by(GROUP_COLUMN).agg(pl.col("qtype").first(), pl.col("correct").all())
            splits[split]["circular"] = _split_accuracy(groups)
        if "extraction" in rows.columns:
            splits[split]["extraction"] = _extraction_counts(rows)
    result = {"scoring": scoring, "splits": splits}
    if "extraction" in predictions.columns:
        result["extraction"] = _extraction_counts(predictions)
    return result


def _extraction_counts(rows: pl.DataFrame) -> dict[str, int]:
    return dict(sorted(rows["extraction"].value_counts().iter_rows()))


def _split_accuracy(rows: pl.DataFrame) -> dict:
    per_type = rows.group_by("qtype").agg(correct=pl.col("correct").sum(), n=pl.len()).sort("qtype")
    return {
        "overall": _accuracy(int(rows["correct"].sum()), rows.height),
        "per_type": {str(r["qtype"]): _accuracy(r["correct"], r["n"]) for r in per_type.iter_rows(named=True)},
    }


def bad_cases(predictions: pl.DataFrame, items: pl.DataFrame) -> list[dict]:
    """The dev split's wrong items with their question, options and answer (bad_cases.jsonl)."""
    wrong = predictions.filter((pl.col("split") == "dev") & ~pl.col("correct")).select("id", "prediction")
    fields = items.select("id", "qtype", "image", "question", "options", "answer")
    cases = wrong.join(fields, on="id", how="left", maintain_order="left")
    unknown = cases.filter(pl.col("question").is_null())["id"].to_list()
    if unknown:
        raise KeyError(f"predicted items missing from the benchmark items: {unknown[:5]}")
    return cases.select("id", "qtype", "image", "question", "options", "answer", "prediction").to_dicts()

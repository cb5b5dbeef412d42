"""Scoring benchmark items, per-type metrics with Wilson intervals, and the dev split's bad cases.

Three scoring methods sit behind `score_items`: option-text likelihood (SEED-Bench's original protocol,
the one a tiny model can learn), answer-letter likelihood (how real MLLMs are usually scored), and
greedy generation with choice extraction. Items with a `group` (MMBench's CircularEval rotations)
are also reported circularly: a group counts as right only when every rotation is.
"""

import math
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import polars as pl
import torch
from transformers import DynamicCache, PreTrainedModel, ProcessorMixin

from dataengine.core.formats import LETTERS, lettered_prompt, question_prompt
from dataengine.core.images import open_rgb
from dataengine.core.joblog import progress
from dataengine.core.streaming import stream
from dataengine.data.benchmark import CATEGORY_COLUMNS, GROUP_COLUMN, OPTIONAL_SCHEMA
from dataengine.eval.choices import Extractor, extract_choice
from dataengine.model.families import Family, family_of
from dataengine.model.inputs import image_inputs, on_device, padded, processed, token_keys
from dataengine.model.inputs import rows as token_rows
from dataengine.model.student import cache_argument

METHODS = ("option_text", "letter", "generate")
ITEM_COLUMNS = ("id", "image", "qtype", "question", "options", "answer", "split")
MAX_NEW_TOKENS = 16
WILSON_Z = 1.959963984540054  # two-sided 95 %


def score_items(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    items: pl.DataFrame,
    image_root: Path,
    method: str,
    batch_size: int,
    extractor: Extractor | None = None,
    loader_workers: int = 0,
) -> pl.DataFrame:
    """One prediction per item (predictions.parquet's columns; 'generate' adds `extraction`, saying
    which rule read the choice from the reply: letter, option_text, llm (`extractor`) or none; the
    items' `group`, `category` and `l2_category` are kept). Images are read batch by batch by
    `loader_workers` processes."""
    scored = score_batches(model, processor, items, image_root, method, batch_size, extractor, loader_workers)
    scores, extractions = [None] * items.height, [None] * items.height
    for rows, _, batch_scores, batch_extractions in scored:
        for row, row_scores, how in zip(rows, batch_scores, batch_extractions, strict=True):
            scores[row], extractions[row] = row_scores, how
    predictions = [_argmax_letter(row) for row in scores]
    if method == "generate":
        predictions = [p if how != "none" else None for p, how in zip(predictions, extractions)]
    out = items.select("id", pl.col("qtype").cast(pl.Int64), "split", "answer").with_columns(
        prediction=pl.Series(predictions, dtype=pl.String),
        scores=pl.Series(scores, dtype=pl.List(pl.Float64)),
    )
    out = out.with_columns(correct=(pl.col("prediction") == pl.col("answer")).fill_null(False))
    out = out.select("id", "qtype", "split", "answer", "prediction", "correct", "scores")
    out = out.hstack(items.select(c for c in OPTIONAL_SCHEMA if c in items.columns))
    return out.with_columns(extraction=pl.Series(extractions, dtype=pl.String)) if method == "generate" else out


def score_batches(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    items: pl.DataFrame,
    image_root: Path,
    method: str,
    batch_size: int,
    extractor: Extractor | None = None,
    loader_workers: int = 0,
) -> Iterator[tuple[list[int], list[str], list[list[float]], list[str | None]]]:
    """Each batch's item rows, the prompts handed to the processor, the scores (one per option) and,
    for 'generate', the rule that read each reply's choice."""
    if method not in METHODS:
        raise ValueError(f"unknown scoring method {method!r}; known: {METHODS}")
    _check_items(items)
    family = family_of(model)
    batches = _batches(items, batch_size)
    build = _EvalBatch(processor, family, Path(image_root), items.select("image", "question", "options"), method)
    generate = partial(_generated_choices, extractor=extractor)
    scorer = {"option_text": _option_text_scores, "letter": _letter_scores, "generate": generate}[method]

    model.eval()
    loader = stream(build, batches, loader_workers, model.device)
    with torch.inference_mode():
        shown = progress(loader, desc=f"score ({method})", total=len(batches), unit="batch")
        for batch, rows in zip(shown, batches, strict=True):  # the bar first: it reaches the end and closes
            batch["inputs"] = on_device(batch["inputs"], model.device, model.dtype)
            batch_scores, batch_extractions = scorer(model, processor, family, batch)
            yield rows, batch["prompts"], batch_scores, batch_extractions


def _check_items(items: pl.DataFrame) -> None:
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise KeyError(f"benchmark items lack the columns {missing}; have {items.columns}")
    for row in items.select("id", "options", "answer").iter_rows(named=True):
        n = len(row["options"] or [])
        if not 2 <= n <= len(LETTERS) or row["answer"] not in tuple(LETTERS[:n]):
            raise ValueError(
                f"item {row['id']!r}: need 2-{len(LETTERS)} options and an answer letter among them, "
                f"got {row['options']!r} / {row['answer']!r}"
            )


def _batches(items: pl.DataFrame, batch_size: int) -> list[list[int]]:
    """Item rows in batches of `batch_size`, in order of their text's length so that a batch pads
    little (the questions on one image side by side). The order is a function of the items alone."""
    text_length = (
        pl.col("question").str.len_chars() + pl.col("options").list.eval(pl.element().str.len_chars()).list.sum()
    )
    order = (
        items.select("image", length=text_length)
        .with_row_index("row")
        .with_columns(image_length=pl.col("length").max().over("image"))
        .sort("image_length", "image", "length", "row")["row"]
        .to_list()
    )
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def item_prompt(question: str, options: list[str], method: str) -> str:
    """The engine's prompt for an item: the bare question for option-text scoring, the lettered
    multiple-choice prompt otherwise."""
    return question_prompt(question) if method == "option_text" else lettered_prompt(question, options)


class _EvalBatch:
    """Turns a batch's item rows into what a scorer needs, in a loader worker: the prompts as handed to
    the processor, the processor's whole output for them with each row's own image (left padded, so
    every row ends in the last column), the questions and options and, for option-text scoring, the
    options' token ids."""

    def __init__(self, processor, family: Family, image_root: Path, items: pl.DataFrame, method: str):
        self.processor, self.family, self.image_root, self.method = processor, family, image_root, method
        # plain lists: polars' thread pool does not survive the fork into a worker
        self.images, self.questions, self.options = (items[c].to_list() for c in ("image", "question", "options"))

    def __call__(self, rows: list[int]) -> dict:
        questions, options = [self.questions[r] for r in rows], [list(self.options[r]) for r in rows]
        prompts = [
            self.family.prompt(self.processor, item_prompt(q, o, self.method)) for q, o in zip(questions, options)
        ]
        images = [open_rgb(self.image_root / self.images[r]) for r in rows]
        inputs = processed(self.processor, self.family, prompts, images)
        inputs = {**image_inputs(inputs), **padded(token_rows(inputs), self.processor.tokenizer.pad_token_id, "left")}
        batch = {"questions": questions, "options": options, "prompts": prompts, "inputs": inputs}
        if self.method == "option_text":
            tokenize = partial(self.processor.tokenizer, add_special_tokens=False)
            batch["option_ids"] = [tokenize(opts)["input_ids"] for opts in options]
            for question, opts, option_ids in zip(questions, options, batch["option_ids"]):
                if not all(option_ids):
                    raise ValueError(f"an option of question {question!r} has no tokens: {opts!r}")
        return batch


def _argmax_letter(scores: Sequence[float]) -> str:
    return LETTERS[max(range(len(scores)), key=scores.__getitem__)]


def _option_text_scores(model, processor, family: Family, batch) -> tuple[list[list[float]], list[None]]:
    """Mean log-likelihood per option token after the prompt: the mean, not the sum, so an option is
    not preferred for being short (the sum adds a negative term per token), which matters when
    options differ in length ("red" vs "dark red"); with one-token options the two rank alike.

    Each prompt (its image and question) runs once, all but its last token; its keys and values are
    copied to each of its options, which run after it as continuations that start with the prompt's
    last token (whose logits predict the option's first). The continuations take the positions that
    follow the prompt's in the family's own position scheme (for M-RoPE, after the image's grid)."""
    inputs, option_ids = batch["inputs"], batch["option_ids"]
    positions = family.positions(model, inputs)
    tokens = token_keys(inputs)
    head = {key: value[:, :-1] if key in tokens else value for key, value in inputs.items()}
    cache = DynamicCache(config=model.config)
    model(**head, position_ids=positions[..., :-1], **cache_argument(model, cache), use_cache=True, logits_to_keep=1)

    owners = [item for item, opts in enumerate(option_ids) for _ in opts]
    last = inputs["input_ids"][:, -1].tolist()
    continuations = [[last[item], *ids] for item, opts in enumerate(option_ids) for ids in opts]
    owner = torch.tensor(owners, device=model.device)
    cache.reorder_cache(owner)  # one row per continuation
    tail = padded([{"input_ids": c, "attention_mask": [1] * len(c)} for c in continuations], 0, "left")
    tail = {key: value.to(model.device) for key, value in tail.items()}
    width = tail["input_ids"].shape[1]
    lengths = torch.tensor([len(c) for c in continuations], device=model.device)
    offsets = (torch.arange(width, device=model.device) - (width - lengths).unsqueeze(1)).clamp(min=0)
    logits = model(
        input_ids=tail["input_ids"],
        attention_mask=torch.cat([head["attention_mask"][owner], tail["attention_mask"]], dim=1),
        position_ids=family.continue_positions(positions[..., -1][..., owner], offsets),
        **cache_argument(model, cache),
        logits_to_keep=width,
    ).logits.float()
    # logits[:, j] predicts column j + 1; an option of n tokens fills the last n columns.
    targets = tail["input_ids"][:, 1:]
    token_scores = logits[:, :-1].log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    is_option = torch.arange(1, width, device=model.device) >= (width - lengths + 1).unsqueeze(1)
    means = ((token_scores * is_option).sum(-1) / (lengths - 1)).tolist()
    scores = [[] for _ in option_ids]
    for item, value in zip(owners, means):
        scores[item].append(value)
    return scores, [None] * len(scores)


def _letter_scores(model, processor, family: Family, batch) -> tuple[list[list[float]], list[None]]:
    """Next-token log-probabilities of the option letters after the multiple-choice prompt, over the
    whole vocabulary: one forward of the batch, each row with its own image."""
    inputs = batch["inputs"]
    logits = model(**inputs, position_ids=family.positions(model, inputs), logits_to_keep=1).logits.float()
    log_probs = logits[:, -1].log_softmax(-1)
    letter_ids = letter_token_ids(processor)
    scores = [log_probs[i, letter_ids[: len(o)]].tolist() for i, o in enumerate(batch["options"])]
    return scores, [None] * len(scores)


def letter_token_ids(processor) -> list[int]:
    """The token a reply that is an option's letter starts with, per letter."""
    return [processor.tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in LETTERS]


def _generated_choices(model, processor, family: Family, batch, extractor: Extractor | None):
    """Greedy replies to the multiple-choice prompt, read as a choice; score 1 for it, 0 elsewhere.
    The `extractor`, when given, is asked (one call per reply) only about replies the rules cannot read."""
    replies = generate_replies(model, processor, batch)
    scores, extractions = [], []
    for question, reply, opts in zip(batch["questions"], replies, batch["options"]):
        letter, how = extract_choice(reply, opts, question, extractor)
        scores.append([float(letter == LETTERS[i]) for i in range(len(opts))])
        extractions.append(how)
    return scores, extractions


def generate_replies(model, processor, batch: dict) -> list[str]:
    """The model's greedy replies (at most MAX_NEW_TOKENS tokens) to a batch's left-padded prompts."""
    inputs = batch["inputs"]
    generated = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    new = generated[:, inputs["input_ids"].shape[1] :]
    return processor.tokenizer.batch_decode(new, skip_special_tokens=True)


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
    """metrics.json: accuracy (%) with Wilson 95 % bounds per split, overall and per type id, and per
    the benchmark's own `category` and `l2_category` where the items have them (`per_category`,
    `per_l2_category`); with a `group` column also `circular`, the same over groups, a group right
    only if all its items are; with an `extraction` column (`generate` scoring) also `extraction`, the
    items each rule decided (letter, option_text, llm, none; a rule that decided none is absent),
    overall and per split."""
    splits = {}
    for split in sorted(predictions["split"].unique()):
        rows = predictions.filter(pl.col("split") == split)
        splits[split] = _split_accuracy(rows)
        if GROUP_COLUMN in rows.columns:
            kinds = [c for c in ("qtype", *CATEGORY_COLUMNS) if c in rows.columns]
            groups = rows.group_by(GROUP_COLUMN).agg(pl.col(kinds).first(), pl.col("correct").all())
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
    result = {"overall": _accuracy(int(rows["correct"].sum()), rows.height), "per_type": _accuracy_by(rows, "qtype")}
    for column in CATEGORY_COLUMNS:
        if column in rows.columns and rows[column].is_not_null().any():
            result[f"per_{column}"] = _accuracy_by(rows.filter(pl.col(column).is_not_null()), column)
    return result


def _accuracy_by(rows: pl.DataFrame, column: str) -> dict:
    counts = rows.group_by(column).agg(correct=pl.col("correct").sum(), n=pl.len()).sort(column)
    return {str(r[column]): _accuracy(r["correct"], r["n"]) for r in counts.iter_rows(named=True)}


def bad_cases(predictions: pl.DataFrame, items: pl.DataFrame) -> list[dict]:
    """The dev split's wrong items with their question, options and answer (bad_cases.jsonl)."""
    wrong = predictions.filter((pl.col("split") == "dev") & ~pl.col("correct")).select("id", "prediction")
    fields = items.select("id", "qtype", "image", "question", "options", "answer")
    cases = wrong.join(fields, on="id", how="left", maintain_order="left")
    unknown = cases.filter(pl.col("question").is_null())["id"].to_list()
    if unknown:
        raise KeyError(f"predicted items missing from the benchmark items: {unknown[:5]}")
    return cases.select("id", "qtype", "image", "question", "options", "answer", "prediction").to_dicts()

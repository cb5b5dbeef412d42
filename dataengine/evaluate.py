"""Scoring benchmark items, per-type metrics with Wilson intervals, and the dev split's bad cases.

Three scoring methods sit behind `score_items`: option-text likelihood (SEED-Bench's original protocol,
the one a tiny model can learn), answer-letter likelihood (how real MLLMs are usually scored), and
greedy generation with choice extraction. Items with a `group` (MMBench's CircularEval rotations)
are also reported circularly: a group counts as right only when every rotation is.
"""

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import polars as pl
import torch
from transformers import DynamicCache, PreTrainedModel, ProcessorMixin

from dataengine.benchmark import CATEGORY_COLUMNS, GROUP_COLUMN, OPTIONAL_SCHEMA
from dataengine.choices import Extractor, extract_choice
from dataengine.formats import LETTERS, lettered_prompt, question_prompt
from dataengine.joblog import progress
from dataengine.streaming import distinct_images, pixel_values, stream
from dataengine.student import cache_argument, encode_prompts, pad_batch

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
    if method not in METHODS:
        raise ValueError(f"unknown scoring method {method!r}; known: {METHODS}")
    _check_items(items)
    batches = _batches(items, batch_size)
    build = _EvalBatch(processor, Path(image_root), items.select("image", "question", "options"), method)
    generate = partial(_generated_choices, extractor=extractor)
    scorer = {"option_text": _option_text_scores, "letter": _letter_scores, "generate": generate}[method]

    model.eval()
    scores, extractions = [None] * items.height, [None] * items.height
    loader = stream(build, batches, loader_workers, model.device)
    with torch.inference_mode():
        scored = progress(loader, desc=f"score ({method})", total=len(batches), unit="batch")
        for batch, rows in zip(scored, batches, strict=True):  # the bar first: it reaches the end and closes
            batch["pixels"] = batch["pixels"].to(model.device, model.dtype, non_blocking=True)
            batch_scores, batch_extractions = scorer(model, processor, batch)
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


def _check_items(items: pl.DataFrame) -> None:
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise KeyError(f"benchmark items lack the columns {missing}; have {items.columns}")
    for row in items.select("id", "options", "answer").iter_rows(named=True):
        n = len(row["options"] or [])
        if not 2 <= n <= len(LETTERS) or row["answer"] not in LETTERS[:n]:
            raise ValueError(f"item {row['id']!r}: need 2-{len(LETTERS)} options and an answer letter among "
                             f"them, got {row['options']!r} / {row['answer']!r}")  # fmt: skip


def _batches(items: pl.DataFrame, batch_size: int) -> list[list[int]]:
    """Item rows in batches of `batch_size`: the questions on one image side by side (its image is
    decoded, and its tokens computed, once per batch), images in order of their longest question so
    that a batch pads little. The order is a function of the items alone."""
    text_length = pl.col("question").str.len_chars() + pl.col("options").list.eval(pl.element().str.len_chars()).list.sum()
    order = (
        items.select("image", length=text_length)
        .with_row_index("row")
        .with_columns(image_length=pl.col("length").max().over("image"))
        .sort("image_length", "image", "length", "row")["row"]
        .to_list()
    )
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


class _EvalBatch:
    """Turns a batch's item rows into what a scorer needs, in a loader worker: their questions and
    options, the pixels of their distinct images (float32), each row's image `slot` among them, the
    prompts' token ids and, for option-text scoring, the options' token ids."""

    def __init__(self, processor, image_root: Path, items: pl.DataFrame, method: str):
        self.processor, self.image_root, self.method = processor, image_root, method
        # plain lists: polars' thread pool does not survive the fork into a worker
        self.images, self.questions, self.options = (items[c].to_list() for c in ("image", "question", "options"))

    def __call__(self, rows: list[int]) -> dict:
        questions, options = [self.questions[r] for r in rows], [list(self.options[r]) for r in rows]
        paths, slots = distinct_images([self.image_root / self.images[r] for r in rows])
        pixels = pixel_values(self.processor.image_processor, paths)
        batch = {"questions": questions, "options": options, "pixels": pixels, "slots": slots}
        if self.method == "option_text":
            batch["prompts"] = encode_prompts(self.processor, [question_prompt(q) for q in questions], pixels)
            tokenize = partial(self.processor.tokenizer, add_special_tokens=False)
            batch["option_ids"] = [tokenize(opts)["input_ids"] for opts in options]
            for question, opts, option_ids in zip(questions, options, batch["option_ids"]):
                if not all(option_ids):
                    raise ValueError(f"an option of question {question!r} has no tokens: {opts!r}")
        else:
            prompts = [lettered_prompt(q, opts) for q, opts in zip(questions, options)]
            batch["prompts"] = encode_prompts(self.processor, prompts, pixels)
        return batch


def _argmax_letter(scores: Sequence[float]) -> str:
    return LETTERS[max(range(len(scores)), key=scores.__getitem__)]


def _continuation_logits(model, pad_id: int, prefixes, pixels, continuations, owners, keep: int) -> torch.Tensor:
    """The last `keep` logits (float32) of sequences that share beginnings: continuation j follows
    prefix owners[j]. A prefix shared by several continuations (the image's tokens, a question) runs
    once; its keys and values are copied to each continuation, and only the continuations run after.
    When nothing is shared, the whole sequences run in one forward. Left padding on both sides keeps
    every sequence's end in the last column; positions count real tokens only."""
    device = model.device
    if owners == list(range(len(continuations))):
        whole = pad_batch([p + c for p, c in zip(prefixes, continuations)], pad_id, "left", device)
        return model(**whole, pixel_values=pixels, logits_to_keep=keep).logits.float()
    cache = DynamicCache(config=model.config)
    head = pad_batch(prefixes, pad_id, "left", device)
    model(**head, pixel_values=pixels, **cache_argument(model, cache), use_cache=True, logits_to_keep=1)
    owner = torch.tensor(owners, device=device)
    cache.reorder_cache(owner)  # one row per continuation
    tail = pad_batch(continuations, pad_id, "left", device)
    prefix_lengths = head["attention_mask"].sum(-1, keepdim=True)[owner]
    return model(
        input_ids=tail["input_ids"],
        attention_mask=torch.cat([head["attention_mask"][owner], tail["attention_mask"]], dim=1),
        position_ids=tail["position_ids"] + prefix_lengths,
        **cache_argument(model, cache),
        logits_to_keep=keep,
    ).logits.float()


def _distinct_prefixes(slots: Sequence[int], prefixes: Sequence[list[int]]) -> tuple[list, list[int], list[int]]:
    """The distinct (image slot, token ids) prefixes in first-seen order, the slot of each, and the
    index of every row's prefix among them."""
    index: dict[tuple, int] = {}
    owners = [index.setdefault((slot, tuple(ids)), len(index)) for slot, ids in zip(slots, prefixes)]
    return [list(ids) for _, ids in index], [slot for slot, _ in index], owners


def _option_text_scores(model, processor, batch) -> tuple[list[list[float]], list[None]]:
    """Mean log-likelihood per option token after the question: the mean, not the sum, so an option
    is not preferred for being short (the sum adds a negative term per token), which matters when
    options differ in length ("red" vs "dark red"); with one-token options the two rank alike.
    The prompt (image and question) runs once per item, or once per circular group sharing it; each
    option runs after it as a continuation that starts with the prompt's last token (whose logits
    predict the option's first)."""
    prompts = batch["prompts"]
    prefixes, prefix_slots, item_prefix = _distinct_prefixes(batch["slots"].tolist(), [p[:-1] for p in prompts])
    items = [i for i, opts in enumerate(batch["option_ids"]) for _ in opts]
    continuations = [[prompts[i][-1], *ids] for i, opts in enumerate(batch["option_ids"]) for ids in opts]
    width = max(map(len, continuations))
    logits = _continuation_logits(
        model, processor.tokenizer.pad_token_id, prefixes, batch["pixels"][prefix_slots], continuations,
        [item_prefix[i] for i in items], keep=width,
    )  # fmt: skip
    # logits[:, j] predicts column j + 1; an option of n tokens fills the last n columns.
    device = logits.device
    targets = pad_batch(continuations, 0, "left", device)["input_ids"][:, 1:]
    token_scores = logits[:, :-1].log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    lengths = torch.tensor([len(c) - 1 for c in continuations], device=device)
    is_option = torch.arange(1, width, device=device) >= (width - lengths).unsqueeze(1)
    means = ((token_scores * is_option).sum(-1) / lengths).tolist()
    scores = [[] for _ in prompts]
    for item, value in zip(items, means):
        scores[item].append(value)
    return scores, [None] * len(scores)


def _letter_scores(model, processor, batch) -> tuple[list[list[float]], list[None]]:
    """Next-token log-probabilities of the option letters after LLaVA's multiple-choice prompt. Each
    prompt is cut after its image: what comes before (template and image tokens) runs once per image
    of the batch, however many questions are asked about it."""
    tokenizer = processor.tokenizer
    image_id = tokenizer.convert_tokens_to_ids(processor.image_token)
    cuts = [min(len(ids) - 1, len(ids) - ids[::-1].index(image_id)) for ids in batch["prompts"]]
    heads = [ids[:cut] for ids, cut in zip(batch["prompts"], cuts)]
    prefixes, prefix_slots, owners = _distinct_prefixes(batch["slots"].tolist(), heads)
    logits = _continuation_logits(
        model, tokenizer.pad_token_id, prefixes, batch["pixels"][prefix_slots],
        [ids[cut:] for ids, cut in zip(batch["prompts"], cuts)], owners, keep=1,
    )  # fmt: skip
    log_probs = logits[:, -1].log_softmax(-1)
    letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[-1] for letter in LETTERS]
    scores = [log_probs[i, letter_ids[: len(o)]].tolist() for i, o in enumerate(batch["options"])]
    return scores, [None] * len(scores)


def _generated_choices(model, processor, batch, extractor: Extractor | None) -> tuple[list[list[float]], list[str]]:
    """Greedy replies to the multiple-choice prompt, read as a choice; score 1 for it, 0 elsewhere.
    The `extractor`, when given, is asked (one call per reply) only about replies the rules cannot read."""
    replies = _generate_replies(model, processor, batch)
    scores, extractions = [], []
    for question, reply, opts in zip(batch["questions"], replies, batch["options"]):
        letter, how = extract_choice(reply, opts, question, extractor)
        scores.append([float(letter == LETTERS[i]) for i in range(len(opts))])
        extractions.append(how)
    return scores, extractions


def _generate_replies(model, processor, batch) -> list[str]:
    """The model's greedy replies (at most MAX_NEW_TOKENS tokens) to LLaVA's multiple-choice prompt."""
    tokenizer = processor.tokenizer
    inputs = pad_batch(batch["prompts"], tokenizer.pad_token_id, "left", model.device)
    generated = model.generate(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        pixel_values=batch["pixels"][batch["slots"].to(model.device)],
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
    )
    return tokenizer.batch_decode(generated[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


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

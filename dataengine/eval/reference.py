"""The reference scorer: each item alone, the way anyone checks a score by hand.

`processor(text=prompt, images=image)` on the rendered prompt, one plain forward with the positions
the model computes itself: no batch, no padding, no shared prefix, no cache. The batched scorer
(dataengine.eval.evaluate) must give the same scores, within the tolerances docs/models.md states; the
family tests hold it to them, and `dataengine evaluate --reference` lets a user check any model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import torch
from transformers import PreTrainedModel, ProcessorMixin

from dataengine.core.formats import LETTERS
from dataengine.core.images import open_rgb
from dataengine.core.joblog import progress
from dataengine.eval.choices import Extractor, extract_choice
from dataengine.eval.evaluate import MAX_NEW_TOKENS, item_prompt, letter_token_ids
from dataengine.model.families import family_of
from dataengine.model.inputs import extend, on_device, processed, rows


def reference_scores(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    items: pl.DataFrame,
    image_root: Path,
    method: str,
    extractor: Extractor | None = None,
) -> Iterator[tuple[int, str, list[float]]]:
    """(row, prompt, scores) per item, in order: for `letter` the log-probability of each option's
    letter as the next token, for `option_text` the mean log-likelihood per token of each option after
    the prompt, for `generate` 1 for the option the greedy reply names and 0 elsewhere."""
    family = family_of(model)
    model.eval()
    listed = items.select("image", "question", "options").iter_rows()
    with torch.inference_mode():
        for row, (image, question, options) in enumerate(
            progress(listed, desc=f"reference ({method})", total=items.height)
        ):
            prompt = family.prompt(processor, item_prompt(question, list(options), method))
            inputs = processed(processor, family, [prompt], [open_rgb(Path(image_root) / image)])
            if method == "letter":
                scores = _letter(model, processor, inputs, len(options))
            elif method == "option_text":
                scores = [_option_mean(model, processor, inputs, option) for option in options]
            else:
                scores = _generated(model, processor, inputs, question, list(options), extractor)
            yield row, prompt, scores


def _forward(model, inputs: dict) -> torch.Tensor:
    return model(**on_device(inputs, model.device, model.dtype)).logits[0].float()


def _letter(model, processor, inputs: dict, n_options: int) -> list[float]:
    log_probs = _forward(model, inputs)[-1].log_softmax(-1)
    return log_probs[letter_token_ids(processor)[:n_options]].tolist()


def _option_mean(model, processor, inputs: dict, option: str) -> float:
    """The prompt followed by the option's tokens, as one sequence: the mean log-probability of those."""
    ids = processor.tokenizer(option, add_special_tokens=False)["input_ids"]
    (row,) = rows(inputs)
    extend(row, ids)
    whole = {**inputs, **{key: torch.tensor([values]) for key, values in row.items()}}
    log_probs = _forward(model, whole)[-len(ids) - 1 : -1].log_softmax(-1)
    return log_probs.gather(-1, torch.tensor(ids, device=log_probs.device).unsqueeze(-1)).mean().item()


def _generated(model, processor, inputs, question, options, extractor) -> list[float]:
    generated = model.generate(
        **on_device(inputs, model.device, model.dtype), max_new_tokens=MAX_NEW_TOKENS, do_sample=False
    )
    reply = processor.tokenizer.decode(generated[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    letter, _ = extract_choice(reply, options, question, extractor)
    return [float(letter == LETTERS[i]) for i in range(len(options))]

"""A word-level tokenizer trained locally, for the tiny students: no tokenizer may come from a hub
offline, and a word per token lets a model of a few hundred thousand weights predict whole words.

Text is lower-cased; every run of word characters (or one punctuation mark) is a token. The family's
special tokens (its image placeholder, turn markers, ...) are added tokens, matched before the text
is split, so a chat template's markers stay whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

PAD, UNK = "[PAD]", "[UNK]"


def word_tokenizer(
    corpus: Iterable[str],
    special_tokens: Sequence[str],
    bos: str | None = None,
    eos: str | None = None,
    named: dict[str, str] | None = None,
) -> PreTrainedTokenizerFast:
    """A tokenizer of `corpus`'s words plus `special_tokens`; with `bos`, every encoded text starts with
    it. `named` declares the family's named special tokens (e.g. {"image_token": "<image>"}), which
    its processor reads back from the tokenizer."""
    specials = list(dict.fromkeys([PAD, UNK, *filter(None, [bos, eos]), *special_tokens]))
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"\w+(?:'\w+)*|[^\w\s]"), behavior="isolated"),
        ]
    )
    tokenizer.train_from_iterator(chain(corpus), trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1))
    if bos is not None:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens=named or {},
    )

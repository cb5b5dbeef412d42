"""Prompt texts, built in one place so that training and evaluation show the model the same strings.

A prompt starts with the image marker `<image>`, as LLaVA's instruction data and the paper's do; the
student's family (dataengine.model.families) puts it into the model's chat template with the image
placeholder of its own, so the model sees the format it was tuned on, in training and evaluation alike.
"""

from collections.abc import Sequence

IMAGE_TOKEN = "<image>"
LETTERS = "ABCDEFGHIJ"  # an item's options, 2 to 10 (benchmarks); a generated sample has four
SAMPLE_LETTERS = LETTERS[:4]  # a sample's options (the paper's format: A-D)
CAPTION_QUESTION = "Describe the image."
LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."

# Texts every prompt may contain whatever the data; a word-level tokenizer must know their words.
# The tiny students' vocabulary holds A-D only: their weights, and the demo's numbers, depend on it.
TEMPLATE_TEXTS: tuple[str, ...] = (CAPTION_QUESTION, LETTER_INSTRUCTION, *SAMPLE_LETTERS)


def question_prompt(question: str) -> str:
    """The free-answer prompt: image, then the question."""
    return f"{IMAGE_TOKEN}\n{question}"


def lettered_prompt(question: str, options: Sequence[str]) -> str:
    """LLaVA-1.5's multiple-choice prompt: the question, options as 'A. ...' lines, the instruction."""
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"need 1 to {len(LETTERS)} options, got {len(options)}: {list(options)!r}")
    lines = [f"{letter}. {option}" for letter, option in zip(LETTERS, options)]
    return "\n".join([question_prompt(question), *lines, LETTER_INSTRUCTION])

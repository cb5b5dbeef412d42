"""What a student family is to the engine: the one place where a model family's habits live.

A `Family` says how the engine's prompts become the text a family's processor takes (its chat
template, its image placeholder, whether its tokenizer adds BOS), how a reply ends (its end of turn),
which positions a padded batch has (plain RoPE counts real tokens; Qwen's M-RoPE has its own index),
where its three parts are (vision tower, projector, language model) and what LoRA adapts in each, and
how to build a tiny random one offline. The rest of the engine asks these questions and never names a
family. Most answers are read from the processor itself; a family overrides only where it differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from dataengine.core.formats import IMAGE_TOKEN

if TYPE_CHECKING:  # the family table stays free of torch and transformers: the config checks read it
    import torch
    from transformers import PreTrainedModel, ProcessorMixin

LANGUAGE_LORA = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
REPLY_PROBE = "zzreplyzz"  # a reply no template contains, to find what a template puts around replies


@dataclass(frozen=True)
class Parts:
    """Module names (as `named_modules` gives them) of a family's vision tower, projector and
    language model; a part inside another (Qwen's merger inside its vision tower) belongs to the
    innermost one."""

    vision: str
    projector: str
    language: str

    def of(self, name: str) -> str | None:
        """Which part a module or parameter name lies in ("vision", "projector", "language"), or None."""
        for part in ("projector", "vision", "language"):  # the projector may lie inside the vision tower
            prefix = getattr(self, part)
            if f".{prefix}." in f".{name}." or name.startswith(f"{prefix}.") or name == prefix:
                return part
        return None


class Family:
    """The default answers, right for a family whose processor carries a chat template that places the
    image with an {"type": "image"} entry and whose positions are plain RoPE."""

    name: ClassVar[str]
    title: ClassVar[str]  # as a person names it, for tables and messages
    model_types: ClassVar[tuple[str, ...]]  # config.json's model_type values it serves
    parts: ClassVar[Parts]
    projector_lora: ClassVar[tuple[str, ...]] = ()  # the projector's linear layers, by leaf name
    vision_lora: ClassVar[tuple[str, ...]] = ()  # the vision tower's linear layers, by leaf name
    needs_torchvision: ClassVar[bool] = False  # its processor cannot be built without torchvision

    # --- prompts -------------------------------------------------------------------------------

    def prompt(self, processor: ProcessorMixin, prompt: str) -> str:
        """The engine's prompt (the image marker first when it has an image) as the text handed to the
        processor: in the chat template, ending where the reply starts; the image placeholder is the
        processor's own, not yet expanded."""
        if not self._has_template(processor):
            return prompt.replace(IMAGE_TOKEN, processor.image_token, 1)
        return processor.apply_chat_template([user_turn(prompt)], add_generation_prompt=True, tokenize=False)

    def follow_up(self, processor: ProcessorMixin, history: Sequence[tuple[str, str]], prompt: str) -> str:
        """A later user turn of a conversation: the text between the end of the reply that ends `history`
        ((prompt, reply) pairs) and the next reply."""
        if not self._has_template(processor):
            return prompt
        messages = []
        for earlier, reply in history:
            messages += [user_turn(earlier), assistant_turn(reply)]
        before = processor.apply_chat_template(messages, tokenize=False)
        after = processor.apply_chat_template(
            [*messages, user_turn(prompt)], add_generation_prompt=True, tokenize=False
        )
        if not after.startswith(before):
            raise ValueError(
                "the processor's chat template does not render a conversation turn by turn "
                "(a longer conversation does not start with the shorter one's text)"
            )
        return after[len(before) :]

    def end_of_turn(self, processor: ProcessorMixin) -> str:
        """What follows a reply, and is learnt with it: what the chat template puts after a reply
        when that holds a special token (Qwen's "<|im_end|>\\n", Gemma's "<end_of_turn>\\n"), else the
        tokenizer's EOS."""
        tokenizer = processor.tokenizer
        if self._has_template(processor):
            rendered = processor.apply_chat_template([user_turn("q"), assistant_turn(REPLY_PROBE)], tokenize=False)
            suffix = rendered[rendered.index(REPLY_PROBE) + len(REPLY_PROBE) :]
            specials = {token.content for token in tokenizer.added_tokens_decoder.values() if token.special}
            if any(token in suffix for token in specials | set(tokenizer.all_special_tokens)):
                return suffix
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has no EOS token and the chat template ends no reply with a special token")
        return tokenizer.eos_token

    def adds_bos(self, processor: ProcessorMixin, text: str) -> bool:
        """Whether the tokenizer should add its special tokens to `text`: not when the chat template
        already wrote BOS (a template that emits it would otherwise get two)."""
        bos = processor.tokenizer.bos_token
        return not (bos and text.startswith(bos))

    def image_token_id(self, processor: ProcessorMixin) -> int:
        """The id of the token an image's features replace, once per feature."""
        return processor.tokenizer.convert_tokens_to_ids(processor.image_token)

    @staticmethod
    def _has_template(processor: ProcessorMixin) -> bool:
        return bool(getattr(processor, "chat_template", None))

    # --- model inputs --------------------------------------------------------------------------

    def images_argument(self, images: Sequence) -> list:
        """The processor's `images` for rows of one image or none each (None entries)."""
        return [image for image in images if image is not None]

    def positions(self, model: PreTrainedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Position ids of a padded batch (batch x length): real tokens count from 0, whatever the padding."""
        mask = inputs["attention_mask"]
        return (mask.long().cumsum(-1) - 1).clamp(min=0)

    def continue_positions(self, last: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Positions of text tokens `offsets` (rows x width) after a token at position `last` (the last
        column of `positions`, one per row): text continues one position per token, on every axis."""
        return last.unsqueeze(-1) + offsets

    # --- training ------------------------------------------------------------------------------

    def language_lora(self) -> tuple[str, ...]:
        return LANGUAGE_LORA

    # --- tiny students -------------------------------------------------------------------------

    def tiny(
        self, corpus: Iterable[str], arch: dict, image_size: int, seed: int
    ) -> tuple[PreTrainedModel, ProcessorMixin]:
        """A randomly initialised tiny model of this family and its processor, from config classes."""
        raise NotImplementedError(f"{self.title}: no tiny student is defined")


def user_turn(prompt: str) -> dict:
    """A user message of a chat template: an image entry when the prompt starts with the image marker,
    then the text."""
    has_image = prompt.startswith(IMAGE_TOKEN)
    text = prompt.removeprefix(IMAGE_TOKEN).lstrip("\n") if has_image else prompt
    return {"role": "user", "content": [{"type": "image"}] * has_image + [{"type": "text", "text": text}]}


def assistant_turn(reply: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": reply}]}

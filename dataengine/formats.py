"""Prompt texts, built in one place so that training and evaluation show the model the same strings.

A prompt starts with the image placeholder, as LLaVA's instruction data does. For a real model whose
processor carries a chat template (llava-1.5: "USER: <image>\n... ASSISTANT:"), `chat_prompt` puts the
prompt into it, so the model sees the format it was tuned on, in training and in evaluation alike.
"""

from collections.abc import Sequence

IMAGE_TOKEN = "<image>"
LETTERS = "ABCD"
CAPTION_QUESTION = "Describe the image."
LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."

# llava-hf/llava-1.5-7b-hf's chat_template.json: "USER: <image>\n... ASSISTANT:", for a model assembled
# or built without one (the GPU benchmark's stand-in).
LLAVA_15_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# Texts every prompt may contain whatever the data; a word-level tokenizer must know their words.
TEMPLATE_TEXTS: tuple[str, ...] = (CAPTION_QUESTION, LETTER_INSTRUCTION, *LETTERS)


def question_prompt(question: str) -> str:
    """The free-answer prompt: image, then the question."""
    return f"{IMAGE_TOKEN}\n{question}"


def lettered_prompt(question: str, options: Sequence[str]) -> str:
    """LLaVA-1.5's multiple-choice prompt: the question, options as 'A. ...' lines, the instruction."""
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"need 1 to {len(LETTERS)} options, got {len(options)}: {list(options)!r}")
    lines = [f"{letter}. {option}" for letter, option in zip(LETTERS, options)]
    return "\n".join([question_prompt(question), *lines, LETTER_INSTRUCTION])


def chat_prompt(processor, prompt: str) -> str:
    """`prompt` in the processor's chat template, ending where the assistant's reply starts; unchanged
    when the processor has no template (the tiny student is trained on the bare prompts)."""
    if not getattr(processor, "chat_template", None):
        return prompt
    return processor.apply_chat_template([_user_turn(prompt)], add_generation_prompt=True, tokenize=False)


def follow_up_prompt(processor, history: Sequence[tuple[str, str]], prompt: str) -> str:
    """A later user turn of a conversation: the text the chat template puts between the reply that ends
    `history` ((prompt, reply) pairs) and the next reply. Training appends EOS to every reply itself,
    as LLaVA's conversation format does ("... ASSISTANT: reply</s>USER: ..."). Without a template
    it is the bare prompt."""
    if not getattr(processor, "chat_template", None):
        return prompt
    messages = []
    for earlier, reply in history:
        messages += [_user_turn(earlier), {"role": "assistant", "content": [{"type": "text", "text": reply}]}]
    before = processor.apply_chat_template(messages, tokenize=False)
    after = processor.apply_chat_template([*messages, _user_turn(prompt)], add_generation_prompt=True, tokenize=False)
    if not after.startswith(before):
        raise ValueError("the processor's chat template does not render a conversation turn by turn "
                         "(a longer conversation does not start with the shorter one's text)")  # fmt: skip
    return after[len(before) :]


def _user_turn(prompt: str) -> dict:
    """A user message of the chat template: the image placeholder (when the prompt starts with one)
    as an image entry, then the text."""
    has_image = prompt.startswith(IMAGE_TOKEN)
    text = prompt.removeprefix(IMAGE_TOKEN).lstrip("\n") if has_image else prompt
    return {"role": "user", "content": [{"type": "image"}] * has_image + [{"type": "text", "text": text}]}

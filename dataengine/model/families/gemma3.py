"""Gemma 3: a SigLIP tower, a projector that pools its patches and scales them into the language model
(`mm_input_projection_weight`, a matrix but no linear layer, so LoRA cannot adapt it: `lora.projector:
full` trains it), and a Gemma language model whose chat template writes BOS itself. Image tokens
attend to each other both ways, which the model reads from `token_type_ids` in the processor's output."""

from __future__ import annotations

from dataengine.core.formats import TEMPLATE_TEXTS
from dataengine.model.families.base import Family, Parts

NAMED = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<start_of_image>"
    "{% elif content['type'] == 'text' %}{{ content['text'] | trim }}{% endif %}{% endfor %}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


class Gemma3(Family):
    name = "gemma3"
    title = "Gemma 3"
    model_types = ("gemma3",)
    parts = Parts(vision="model.vision_tower", projector="model.multi_modal_projector", language="model.language_model")
    vision_lora = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")

    def images_argument(self, images):
        """One list of images per row (empty for a text-only row): the processor counts them per row."""
        return [[] if image is None else [image] for image in images]

    def image_token_id(self, processor):
        return processor.tokenizer.convert_tokens_to_ids(processor.tokenizer.image_token)

    def tiny(self, corpus, arch, image_size, seed):
        import torch
        from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
        from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

        from dataengine.model.tiny import set_generation_tokens, siglip_config, text_config
        from dataengine.model.tokenizer import word_tokenizer

        specials = ["<start_of_turn>", "<end_of_turn>", *NAMED.values()]
        tokenizer = word_tokenizer(
            [*corpus, *TEMPLATE_TEXTS, "user model"], specials, bos="<bos>", eos="<eos>", named=NAMED
        )
        tokens = (image_size // arch["patch_size"]) ** 2
        head_dim = arch["text_hidden"] // arch["text_heads"]
        text = text_config(tokenizer, arch, head_dim=head_dim, query_pre_attn_scalar=head_dim, sliding_window=64)
        config = Gemma3Config(
            text_config=text,
            vision_config=siglip_config(arch, image_size, arch["patch_size"]),
            mm_tokens_per_image=tokens,
            boi_token_index=tokenizer.convert_tokens_to_ids(NAMED["boi_token"]),
            eoi_token_index=tokenizer.convert_tokens_to_ids(NAMED["eoi_token"]),
            image_token_index=tokenizer.convert_tokens_to_ids(NAMED["image_token"]),
        )
        torch.manual_seed(seed)
        model = Gemma3ForConditionalGeneration(config)
        set_generation_tokens(model, tokenizer)
        processor = Gemma3Processor(
            image_processor=Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size}),
            tokenizer=tokenizer,
            image_seq_length=tokens,
            chat_template=CHAT_TEMPLATE,
        )
        return model.eval(), processor

"""LLaVA-1.5 (and the offline default's tiny student) and LLaVA-NeXT: a CLIP tower, an MLP projector
(`linear_1`, `linear_2`) and a Llama-style language model. LLaVA-1.5 ends a reply with EOS ("...
ASSISTANT: B</s>"), which its chat template does not write, so the default end of turn (EOS when the
template puts no special token after a reply) is right for it."""

from __future__ import annotations

from collections.abc import Iterable

from dataengine.core.formats import IMAGE_TOKEN, TEMPLATE_TEXTS
from dataengine.model.families.base import Family, Parts

BOS, EOS = "<s>", "</s>"

# The chat template of llava-hf/llava-1.5-7b-hf ("USER: <image>\n... ASSISTANT:"), for a model assembled
# from LLaVA's released parts or built without one (the GPU benchmark's stand-in).
LLAVA_15_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def llava_tokenizer(corpus: Iterable[str]):
    """The tiny LLaVA's word-level tokenizer: BOS first, `<image>` as its image token."""
    from dataengine.model.tokenizer import word_tokenizer

    return word_tokenizer(
        [*corpus, *TEMPLATE_TEXTS], [IMAGE_TOKEN], bos=BOS, eos=EOS, named={"image_token": IMAGE_TOKEN}
    )


class Llava(Family):
    name = "llava"
    title = "LLaVA-1.5"
    model_types = ("llava",)
    parts = Parts(vision="model.vision_tower", projector="model.multi_modal_projector", language="model.language_model")
    projector_lora = ("linear_1", "linear_2")
    vision_lora = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")

    def tiny(self, corpus, arch, image_size, seed):
        """The offline default's student: a CLIP tower -> MLP projector -> Llama, bare prompts (no chat
        template), `image_size` pixels in patches of `patch_size`."""
        import torch
        from transformers import (
            CLIPImageProcessorPil,
            LlamaConfig,
            LlavaConfig,
            LlavaForConditionalGeneration,
            LlavaProcessor,
        )

        from dataengine.model.tiny import clip_config, set_generation_tokens, text_config

        tokenizer = llava_tokenizer(corpus)
        patch = arch["patch_size"]
        if image_size % patch:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch}")
        config = LlavaConfig(
            vision_config=clip_config(arch, image_size),
            text_config=LlamaConfig(**text_config(tokenizer, arch)),
            image_token_index=tokenizer.image_token_id,
            image_seq_length=(image_size // patch) ** 2,
            vision_feature_layer=-1,  # the default -2 is meant for CLIP-L's 24 layers, not a 2-layer tower
            vision_feature_select_strategy="default",
            projector_hidden_act="gelu",
        )
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
        set_generation_tokens(model, tokenizer)
        image_processor = CLIPImageProcessorPil(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        )
        processor = LlavaProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=patch,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
        )
        return model.eval(), processor


class LlavaNext(Llava):
    name = "llava_next"
    title = "LLaVA-NeXT"
    model_types = ("llava_next",)

    def tiny(self, corpus, arch, image_size, seed):
        """LLaVA-NeXT's any-resolution tiles at a tiny scale: a global view plus the tiles of the best
        grid among `image_size` x {1, 2} pinpoints, LLaVA-1.5's chat template."""
        import torch
        from transformers import LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
        from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

        from dataengine.model.tiny import clip_config, set_generation_tokens, text_config

        tokenizer = llava_tokenizer(corpus)
        patch = arch["patch_size"]
        pinpoints = [[image_size, image_size], [image_size, 2 * image_size], [2 * image_size, image_size]]
        config = LlavaNextConfig(
            vision_config=clip_config(arch, image_size),
            text_config=LlamaConfig(**text_config(tokenizer, arch)),
            image_token_index=tokenizer.image_token_id,
            image_grid_pinpoints=pinpoints,
            vision_feature_layer=-1,
            vision_feature_select_strategy="default",
            image_seq_length=(image_size // patch) ** 2,
        )
        torch.manual_seed(seed)
        model = LlavaNextForConditionalGeneration(config)
        set_generation_tokens(model, tokenizer)
        image_processor = LlavaNextImageProcessorPil(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
            image_grid_pinpoints=pinpoints,
        )
        processor = LlavaNextProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=patch,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,
            chat_template=LLAVA_15_CHAT_TEMPLATE,
        )
        return model.eval(), processor

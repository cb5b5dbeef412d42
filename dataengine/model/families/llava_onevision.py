"""LLaVA-OneVision: a SigLIP tower over any-resolution tiles of the image plus its global view
(`image_sizes` says each image's own), LLaVA's MLP projector and a Qwen2 language model in ChatML."""

from __future__ import annotations

from dataengine.core.formats import TEMPLATE_TEXTS
from dataengine.model.families.base import Parts
from dataengine.model.families.llava import Llava
from dataengine.model.families.qwen_vl import chatml_template


class LlavaOnevision(Llava):
    name = "llava_onevision"
    title = "LLaVA-OneVision"
    model_types = ("llava_onevision",)
    parts = Parts(vision="model.vision_tower", projector="model.multi_modal_projector", language="model.language_model")
    needs_torchvision = True  # its processor holds a video processor

    def tiny(self, corpus, arch, image_size, seed):
        import torch
        from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor
        from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
            LlavaOnevisionImageProcessorPil,
        )
        from transformers.models.llava_onevision.video_processing_llava_onevision import (
            LlavaOnevisionVideoProcessor,
        )

        from dataengine.model.tiny import set_generation_tokens, siglip_config, text_config
        from dataengine.model.tokenizer import word_tokenizer

        specials = ["<|im_start|>", "<|im_end|>", "<image>", "<video>"]
        tokenizer = word_tokenizer(
            [*corpus, *TEMPLATE_TEXTS, "user assistant"],
            specials,
            eos="<|im_end|>",
            named={"image_token": "<image>", "video_token": "<video>"},
        )
        patch = arch["patch_size"]
        pinpoints = [[image_size, image_size], [image_size, 2 * image_size], [2 * image_size, image_size]]
        config = LlavaOnevisionConfig(
            vision_config=siglip_config(arch, image_size, patch),
            text_config=text_config(tokenizer, arch, model_type="qwen2"),
            image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
            video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
            image_grid_pinpoints=pinpoints,
            vision_feature_layer=-1,
            vision_feature_select_strategy="full",
        )
        torch.manual_seed(seed)
        model = LlavaOnevisionForConditionalGeneration(config)
        set_generation_tokens(model, tokenizer)
        size = {"height": image_size, "width": image_size}
        processor = LlavaOnevisionProcessor(
            image_processor=LlavaOnevisionImageProcessorPil(size=size, image_grid_pinpoints=pinpoints),
            tokenizer=tokenizer,
            video_processor=LlavaOnevisionVideoProcessor(size=size),
            num_image_tokens=(image_size // patch) ** 2,
            vision_feature_select_strategy="full",
            chat_template=chatml_template("<image>\n"),
        )
        return model.eval(), processor

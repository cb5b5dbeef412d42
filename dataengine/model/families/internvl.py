"""InternVL (the transformers-native port, InternVL3 and later): an InternViT tower over tiles of the
image, a projector of pixel-shuffled patches (`model.multi_modal_projector`, linear layers `linear_1`,
`linear_2`) and a Qwen2 language model in ChatML; an image is `<img>`, its tokens, `</img>`."""

from __future__ import annotations

from dataengine.core.formats import TEMPLATE_TEXTS
from dataengine.model.families.base import Family, Parts
from dataengine.model.families.qwen_vl import chatml_template

NAMED = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}


class InternVL(Family):
    name = "internvl"
    title = "InternVL"
    model_types = ("internvl",)
    parts = Parts(vision="model.vision_tower", projector="model.multi_modal_projector", language="model.language_model")
    projector_lora = ("linear_1", "linear_2")
    vision_lora = ("q_proj", "k_proj", "v_proj", "projection_layer", "fc1", "fc2")
    needs_torchvision = True  # its processor holds a video processor

    def tiny(self, corpus, arch, image_size, seed):
        import torch
        from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
        from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
        from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

        from dataengine.model.tiny import set_generation_tokens, text_config, vision_sizes
        from dataengine.model.tokenizer import word_tokenizer

        specials = ["<|im_start|>", "<|im_end|>", *NAMED.values()]
        tokenizer = word_tokenizer(
            [*corpus, *TEMPLATE_TEXTS, "user assistant"], specials, eos="<|im_end|>", named=NAMED
        )
        patch = arch["patch_size"] // 2
        vision = {**vision_sizes(arch), "image_size": [image_size, image_size], "patch_size": [patch, patch]}
        config = InternVLConfig(
            vision_config=vision,
            text_config=text_config(tokenizer, arch, model_type="qwen2"),
            image_token_id=tokenizer.convert_tokens_to_ids(NAMED["context_image_token"]),
            image_seq_length=(image_size // patch // 2) ** 2,
            downsample_ratio=0.5,
        )
        torch.manual_seed(seed)
        model = InternVLForConditionalGeneration(config)
        set_generation_tokens(model, tokenizer)
        size = {"height": image_size, "width": image_size}
        processor = InternVLProcessor(
            image_processor=GotOcr2ImageProcessorPil(size=size, crop_to_patches=True, max_patches=4),
            tokenizer=tokenizer,
            video_processor=InternVLVideoProcessor(size=size),
            image_seq_length=(image_size // patch // 2) ** 2,
            chat_template=chatml_template("<IMG_CONTEXT>\n"),
        )
        return model.eval(), processor

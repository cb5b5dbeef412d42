"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: a ViT over an image's own grid of patches (dynamic resolution:
each image gets its own number of tokens, `image_grid_thw`), a merger that joins 2 x 2 patches (the
projector, inside the vision tower: `model.visual.merger`), and a Qwen language model with M-RoPE.

M-RoPE gives each token a (temporal, height, width) position: an image's tokens take their place in
its grid, text after it continues from the largest. Positions counted 1-D move the scores with no
error, so the batch's positions are the model's own rope index, and the tokens that follow a prompt
continue from its last position in all three axes.
"""

from __future__ import annotations

import inspect

from dataengine.core.formats import TEMPLATE_TEXTS
from dataengine.model.families.base import Family, Parts

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]


def chatml_template(image: str) -> str:
    """ChatML (Qwen's turns) with `image` where a message's image entry is; the released Qwen templates
    also add a default system turn, which a tiny model does not need."""
    return (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for content in message['content'] %}"
        f"{{% if content['type'] == 'image' %}}{image}"
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


class Qwen2VL(Family):
    name = "qwen2_vl"
    title = "Qwen2-VL"
    model_types = ("qwen2_vl",)
    parts = Parts(vision="model.visual", projector="model.visual.merger", language="model.language_model")
    projector_lora = ("mlp.0", "mlp.2")
    vision_lora = ("qkv", "proj", "fc1", "fc2")
    needs_torchvision = True  # its processor holds a video processor
    classes = ("Qwen2VLForConditionalGeneration", "Qwen2VLProcessor", "Qwen2VLConfig")  # transformers' names

    def positions(self, model, inputs):
        """The model's own M-RoPE index (3 x batch x length) for the padded batch."""
        rope_index = model.model.get_rope_index
        wanted = inspect.signature(rope_index).parameters
        given = {key: value for key, value in inputs.items() if key in wanted}
        return rope_index(**given)[0]

    def tiny(self, corpus, arch, image_size, seed):
        """A tiny Qwen-VL on `image_size`-pixel images in patches of half `patch_size`, merged 2 x 2, so
        that an image has as many tokens as the tiny LLaVA's; ChatML without a system turn."""
        import torch
        import transformers
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        from dataengine.model.tiny import set_generation_tokens, text_config
        from dataengine.model.tokenizer import word_tokenizer

        model_class, processor_class, config_class = (getattr(transformers, name) for name in self.classes)
        named = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
        tokenizer = word_tokenizer(
            [*corpus, *TEMPLATE_TEXTS, "user assistant"], SPECIALS, eos="<|im_end|>", named=named
        )
        patch = arch["patch_size"] // 2
        pixels = {"min_pixels": image_size * image_size, "max_pixels": image_size * image_size}
        sizes = {"patch_size": patch, "merge_size": 2, "temporal_patch_size": 2}
        processor = processor_class(
            image_processor=Qwen2VLImageProcessorPil(**pixels, **sizes),
            tokenizer=tokenizer,
            video_processor=Qwen2VLVideoProcessor(**pixels, **sizes),
            chat_template=chatml_template("<|vision_start|><|image_pad|><|vision_end|>"),
        )
        head_dim = arch["text_hidden"] // arch["text_heads"]
        rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": self.mrope_section(head_dim)}
        tokens = {
            "image_token_id": "<|image_pad|>",
            "video_token_id": "<|video_pad|>",
            "vision_start_token_id": "<|vision_start|>",
            "vision_end_token_id": "<|vision_end|>",
        }
        ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in tokens.items()}
        config = config_class(
            text_config=text_config(tokenizer, arch, rope_parameters=rope),
            vision_config=self.vision_config(arch, patch),
            **ids,
        )
        torch.manual_seed(seed)
        model = model_class(config)
        set_generation_tokens(model, tokenizer)
        return model.eval(), processor

    @staticmethod
    def mrope_section(head_dim: int) -> list[int]:
        """Rotary frequencies per axis (temporal, height, width), half a head's dimensions in all."""
        half = head_dim // 2
        return [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]

    def vision_config(self, arch: dict, patch: int) -> dict:
        return {
            "depth": arch["vision_layers"],
            "embed_dim": arch["vision_hidden"],
            "hidden_size": arch["text_hidden"],
            "num_heads": arch["vision_heads"],
            "mlp_ratio": arch["vision_mlp"] // arch["vision_hidden"],
            "patch_size": patch,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }


class Qwen25VL(Qwen2VL):
    name = "qwen2_5_vl"
    title = "Qwen2.5-VL"
    model_types = ("qwen2_5_vl",)
    vision_lora = ("qkv", "proj", "gate_proj", "up_proj", "down_proj")
    classes = ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor", "Qwen2_5_VLConfig")

    def vision_config(self, arch, patch):
        return {
            **_merger_vision_config(arch, patch),
            "window_size": 8 * patch,
            "fullatt_block_indexes": list(range(7, arch["vision_layers"], 8)) or [arch["vision_layers"] - 1],
        }


class Qwen3VL(Qwen2VL):
    name = "qwen3_vl"
    title = "Qwen3-VL"
    model_types = ("qwen3_vl",)
    projector_lora = ("linear_fc1", "linear_fc2")
    vision_lora = ("qkv", "proj", "linear_fc1", "linear_fc2")
    classes = ("Qwen3VLForConditionalGeneration", "Qwen3VLProcessor", "Qwen3VLConfig")

    def vision_config(self, arch, patch):
        return {**_merger_vision_config(arch, patch), "num_position_embeddings": 64, "deepstack_visual_indexes": [0]}


def _merger_vision_config(arch: dict, patch: int) -> dict:
    """The vision config Qwen2.5-VL and Qwen3-VL share (their towers end in a merger to the text width)."""
    return {
        "depth": arch["vision_layers"],
        "hidden_size": arch["vision_hidden"],
        "out_hidden_size": arch["text_hidden"],
        "intermediate_size": arch["vision_mlp"],
        "num_heads": arch["vision_heads"],
        "patch_size": patch,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }

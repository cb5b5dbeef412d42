"""Idefics3 and SmolVLM: a SigLIP-style tower over tiles of the image plus a global view (each image its
own count, marked `<row_r_col_c>`; `pixel_values` is images x tiles x channels x height x width with a
`pixel_attention_mask`), a connector that shuffles pixels into the language model (`model.connector`,
its linear layer `proj`), and the language model at `model.text_model`. A reply ends with
`<end_of_utterance>`."""

from __future__ import annotations

from dataengine.core.formats import TEMPLATE_TEXTS
from dataengine.model.families.base import Family, Parts

GRID = 6  # the tile markers' rows and columns the processors know
SPECIALS = [
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{r}_col_{c}>" for r in range(1, GRID + 1) for c in range(1, GRID + 1)),
]
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


class Idefics3(Family):
    name = "idefics3"
    title = "Idefics3"
    model_types = ("idefics3",)
    parts = Parts(vision="model.vision_model", projector="model.connector", language="model.text_model")
    projector_lora = ("proj",)
    vision_lora = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
    needs_torchvision = True  # transformers 5.17 imports its image processors only beside torchvision
    classes = ("Idefics3Config", "Idefics3ForConditionalGeneration")  # transformers' names

    def images_argument(self, images):
        """One list of images per row (empty for a text-only row): the processor counts them per row."""
        return [[] if image is None else [image] for image in images]

    def tiny(self, corpus, arch, image_size, seed):
        """Tiles of `image_size` pixels in patches of half `patch_size`, pixel-shuffled 2 x 2: as many
        tokens per tile as the tiny LLaVA has per image; an image's longest side is resized to twice
        that, so a square image gives 2 x 2 tiles and the global view."""
        import torch
        import transformers
        from transformers import LlamaConfig

        from dataengine.model.tiny import set_generation_tokens, text_config, vision_sizes
        from dataengine.model.tokenizer import word_tokenizer

        config_class, model_class = (getattr(transformers, name) for name in self.classes)
        tokenizer = word_tokenizer(
            [*corpus, *TEMPLATE_TEXTS, "<|im_start|> user : assistant :"],
            SPECIALS,
            bos="<s>",
            eos="<end_of_utterance>",
            named={"image_token": "<image>"},
        )
        patch = arch["patch_size"] // 2
        vision = {**vision_sizes(arch), "image_size": image_size, "patch_size": patch}
        config = config_class(
            vision_config=vision,
            text_config=LlamaConfig(**text_config(tokenizer, arch)),
            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
            scale_factor=2,
        )
        torch.manual_seed(seed)
        model = model_class(config)
        set_generation_tokens(model, tokenizer)
        processor = self.tiny_processor(tokenizer, image_size, tokens=(image_size // patch // 2) ** 2)
        return model.eval(), processor

    def tiny_processor(self, tokenizer, image_size: int, tokens: int):
        from transformers import Idefics3Processor
        from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

        images = Idefics3ImageProcessorPil(
            size={"longest_edge": 2 * image_size}, max_image_size={"longest_edge": image_size}, do_image_splitting=True
        )
        return Idefics3Processor(
            image_processor=images, tokenizer=tokenizer, image_seq_len=tokens, chat_template=CHAT_TEMPLATE
        )


class SmolVLM(Idefics3):
    name = "smolvlm"
    title = "SmolVLM"
    model_types = ("smolvlm",)
    classes = ("SmolVLMConfig", "SmolVLMForConditionalGeneration")

    def tiny_processor(self, tokenizer, image_size, tokens):
        from transformers import SmolVLMProcessor
        from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil
        from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

        images = SmolVLMImageProcessorPil(
            size={"longest_edge": 2 * image_size}, max_image_size={"longest_edge": image_size}, do_image_splitting=True
        )
        videos = SmolVLMVideoProcessor(size={"longest_edge": image_size}, max_image_size={"longest_edge": image_size})
        return SmolVLMProcessor(
            image_processor=images,
            tokenizer=tokenizer,
            video_processor=videos,
            image_seq_len=tokens,
            chat_template=CHAT_TEMPLATE,
        )

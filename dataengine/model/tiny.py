"""Pieces every tiny student is built from: the language model's and vision towers' sizes from a tiny
arch, and the generation tokens. Family adapters import this when they build one, so the family table
itself stays free of transformers' model classes (the config checks read it)."""

from __future__ import annotations

from transformers import CLIPVisionConfig, SiglipVisionConfig


def text_config(tokenizer, arch: dict, **extra) -> dict:
    """The language model's sizes from a tiny arch, with the tokenizer's special ids."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": arch["text_hidden"],
        "intermediate_size": arch["text_mlp"],
        "num_hidden_layers": arch["text_layers"],
        "num_attention_heads": arch["text_heads"],
        "num_key_value_heads": arch.get("text_kv_heads") or arch["text_heads"],
        "max_position_embeddings": arch["max_positions"],
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        **extra,
    }


def vision_sizes(arch: dict) -> dict:
    """A ViT's sizes from a tiny arch, in the names most vision configs use."""
    return {
        "hidden_size": arch["vision_hidden"],
        "intermediate_size": arch["vision_mlp"],
        "num_hidden_layers": arch["vision_layers"],
        "num_attention_heads": arch["vision_heads"],
    }


def clip_config(arch: dict, image_size: int) -> CLIPVisionConfig:
    return CLIPVisionConfig(
        image_size=image_size, patch_size=arch["patch_size"], projection_dim=arch["vision_hidden"], **vision_sizes(arch)
    )


def siglip_config(arch: dict, image_size: int, patch: int) -> SiglipVisionConfig:
    return SiglipVisionConfig(image_size=image_size, patch_size=patch, **vision_sizes(arch))


def set_generation_tokens(model, tokenizer) -> None:
    """pad, eos and bos in the generation config, so that `generate` stops and pads as trained."""
    generation = model.generation_config
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.bos_token_id = tokenizer.bos_token_id

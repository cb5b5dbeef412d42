"""The tiny LLaVA-architecture student: tokenizer, model, processor, save and load.

No model or tokenizer may come from a hub offline, so the tiny student is built from configs with a
word-level tokenizer trained on the synthetic vocabulary. It is saved as an ordinary HF folder, so one
loading path (`load_student`) serves it and a real model such as llava-hf/llava-1.5-7b-hf alike.
"""

import inspect
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    Cache,
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    ProcessorMixin,
)

from dataengine.formats import IMAGE_TOKEN, TEMPLATE_TEXTS, chat_prompt

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "<s>", "</s>"

# Sizes measured to learn the synthetic benchmark and run fast on 2 CPU cores
# (see shared/notes/tiny-student.md): 16 image tokens, ~0.6 M parameters.
DEFAULT_ARCH: dict[str, int] = {
    "patch_size": 16,
    "vision_hidden": 96,
    "vision_mlp": 192,
    "vision_layers": 2,
    "vision_heads": 4,
    "text_hidden": 128,
    "text_mlp": 256,
    "text_layers": 2,
    "text_heads": 4,
    "max_positions": 512,
}


def train_tokenizer(corpus: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer: lower-cased, every run of word characters (or one punctuation mark) is
    one token, so the tiny model predicts whole words. The prompt templates' words are always in it."""
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"\w+(?:'\w+)*|[^\w\s]"), behavior="isolated"),
        ]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, UNK, BOS, EOS, IMAGE_TOKEN], min_frequency=1)
    tokenizer.train_from_iterator(chain(corpus, TEMPLATE_TEXTS), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tokenizer.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )


def build_tiny_student(
    tokenizer: PreTrainedTokenizerFast, arch: dict, image_size: int, seed: int
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """A randomly initialised LLaVA (CLIP tower -> MLP projector -> Llama) and its processor."""
    unknown = set(arch) - set(DEFAULT_ARCH)
    if unknown:
        raise ValueError(f"unknown student arch keys {sorted(unknown)}; known: {sorted(DEFAULT_ARCH)}")
    a = DEFAULT_ARCH | arch
    patch = a["patch_size"]
    if image_size % patch:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch}")
    vision = CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch,
        hidden_size=a["vision_hidden"],
        intermediate_size=a["vision_mlp"],
        num_hidden_layers=a["vision_layers"],
        num_attention_heads=a["vision_heads"],
        projection_dim=a["vision_hidden"],
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=a["text_hidden"],
        intermediate_size=a["text_mlp"],
        num_hidden_layers=a["text_layers"],
        num_attention_heads=a["text_heads"],
        num_key_value_heads=a["text_heads"],
        max_position_embeddings=a["max_positions"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.image_token_id,
        image_seq_length=(image_size // patch) ** 2,
        vision_feature_layer=-1,  # the default -2 is meant for CLIP-L's 24 layers, not a 2-layer tower
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    generation = model.generation_config
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.bos_token_id = tokenizer.bos_token_id
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


def save_student(
    model: PreTrainedModel, processor: ProcessorMixin, out_dir: Path, train_log: dict | None = None
) -> Path:
    """Save model + processor (+ train_log.json) as an HF folder. Written into a temporary folder
    beside `out_dir` and renamed into place, so an interrupted save never looks complete. Folder and
    files get the modes the umask gives any other output, so a cluster group can read the models."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling_folder(out_dir, "tmp")
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if train_log is not None:
            (tmp / "train_log.json").write_text(json.dumps(train_log, indent=1))
        umask_modes(tmp)
        if out_dir.exists():
            old = _sibling_folder(out_dir, "old")
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def _sibling_folder(out_dir: Path, suffix: str) -> Path:
    """A new hidden folder beside `out_dir`, unique to this process and call; made with mkdir, so its
    mode follows the umask (mkdtemp's is always 0700)."""
    folder = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{suffix}"
    folder.mkdir()
    return folder


def umask_modes(folder: Path) -> None:
    """Give everything under `folder` (made with mkdir) the mode an ordinary output gets: transformers
    and peft write weights through a private temporary file (0600)."""
    folder_mode = stat.S_IMODE(folder.stat().st_mode)
    for path in folder.rglob("*"):
        path.chmod(folder_mode if path.is_dir() else folder_mode & 0o666)


def load_student(path: Path | str, dtype: str = "float32") -> tuple[PreTrainedModel, ProcessorMixin]:
    """Load any HF image-text-to-text model and its processor from a local folder, never a hub, in
    `dtype` (bfloat16 for a 7B model) and on the GPU when there is one."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no HF model folder at {path} (config.json missing)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            path, local_files_only=True, dtype=getattr(torch, dtype), device_map=device, attn_implementation="sdpa"
        )
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"cannot load the model folder {path}: {error}") from error
    return model.eval(), processor


def encode_prompts(
    processor: ProcessorMixin, prompts: Sequence[str], pixels: torch.Tensor | None
) -> list[list[int]]:
    """Token ids of prompts (BOS first) with the image placeholder expanded to the image's tokens, as
    the processor would, without processing the image again for every prompt. A prompt holds one
    placeholder, or none for text-only data (`pixels` is then None when no prompt has one)."""
    image_token = processor.image_token
    for prompt in prompts:
        if prompt.count(image_token) > 1 or (pixels is None and image_token in prompt):
            raise ValueError(f"a prompt must hold one {image_token!r} (none without an image): {prompt!r}")
    # The processor reads the image's size through numpy, which has no bfloat16.
    expanded = image_token if pixels is None else processor.replace_image_token({"pixel_values": pixels[:1].float()}, 0)
    texts = [chat_prompt(processor, prompt).replace(image_token, expanded) for prompt in prompts]
    return processor.tokenizer(texts, add_special_tokens=True)["input_ids"]


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, side: str, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask and position_ids of padded sequences. Positions count real tokens
    only, so a left-padded sequence sees the positions it was trained with right-padded (RoPE models
    are indifferent to the shift; absolute-position ones are not)."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    width = max(map(len, sequences))
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        span = slice(0, len(sequence)) if side == "right" else slice(width - len(sequence), width)
        input_ids[row, span] = torch.as_tensor(sequence, dtype=torch.long)
        attention_mask[row, span] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
    return {name: tensor.to(device) for name, tensor in batch.items()}


def enable_activation_checkpointing(model: PreTrainedModel) -> None:
    """Recompute each layer's activations in backward instead of keeping them (non-reentrant, which
    needs no input gradients for LoRA). transformers 5.24 renamed the method; 5.17 has the old name."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def cache_argument(model: PreTrainedModel, cache: Cache) -> dict[str, Cache]:
    """`cache` as the keyword argument the model's forward takes: transformers 5.24 renamed
    `past_key_values` to `cache` (5.17 knows only the first; 5.40 only the second)."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    return {name: cache}

"""The paper's v2 start model from LLaVA's three released parts: an HF LLaVA folder.

MLLM-DataEngine's v2 recipe starts from LLaVA-1.5's stage-1 output, which exists only as parts: the
language model (vicuna-7b-v1.5), the CLIP vision tower (clip-vit-large-patch14-336) and the projector
LLaVA pre-trained between them (`mm_projector.bin`, mlp2x_gelu). `assemble` puts them into the kind of
folder llava-hf/llava-1.5-7b-hf is (`LlavaForConditionalGeneration`, its processor, `<image>` and
`<pad>` tokens, LLaVA-1.5's chat template), so `dataengine.model.student.load_student` reads it like any
other model. The parts are loaded once each and moved into the model; only the embeddings are copied,
to grow them (measured: assembling peaks at the memory of loading the language model alone).
"""

from __future__ import annotations

import json
from itertools import chain
from pathlib import Path

import torch
from transformers import (
    AddedToken,
    AutoTokenizer,
    CLIPImageProcessorPil,
    CLIPVisionModel,
    GenerationConfig,
    LlamaForCausalLM,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

from dataengine.core.formats import IMAGE_TOKEN
from dataengine.model.families.llava import LLAVA_15_CHAT_TEMPLATE
from dataengine.model.student import save_student

PAD_TOKEN = "<pad>"
# LLaVA's mlp2x_gelu projector is nn.Sequential(Linear, GELU, Linear) saved under `model.mm_projector`
# (llava/model/multimodal_projector/builder.py); transformers names the two layers linear_1/linear_2.
PROJECTOR_KEYS = {
    "0.weight": "linear_1.weight",
    "0.bias": "linear_1.bias",
    "2.weight": "linear_2.weight",
    "2.bias": "linear_2.bias",
}
VOCAB_MULTIPLE = 64  # llava-hf pads the vocabulary (32000 + <image>, <pad>) to 32064 for speed


def assemble(
    language_model: Path | str,
    vision_tower: Path | str,
    projector: Path | str,
    out_dir: Path | str,
    vision_feature_layer: int = -2,
    dtype: str = "bfloat16",
) -> Path:
    """Build and save (atomically) an HF LLaVA folder from a LlamaForCausalLM folder, a CLIPModel or
    CLIPVisionModel folder (with its image processor) and LLaVA's `mm_projector.bin`; weights in `dtype`."""
    torch_dtype = getattr(torch, dtype)
    language_model, vision_tower, projector = Path(language_model), Path(vision_tower), Path(projector)
    llm, tokenizer = _language_model(language_model, torch_dtype)
    vision = _vision_tower(vision_tower, torch_dtype)
    config = LlavaConfig(
        vision_config=vision.config,
        text_config=llm.config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(vision.config.image_size // vision.config.patch_size) ** 2,
        projector_hidden_act="gelu",
        vision_feature_layer=vision_feature_layer,
        vision_feature_select_strategy="default",  # drop CLIP's CLS token, as LLaVA's select_feature "patch"
    )
    with torch.device("meta"):  # a shell: each part below moves in whole, so nothing is allocated twice
        model = LlavaForConditionalGeneration(config)
    model.model.language_model = llm.model
    model.lm_head = llm.lm_head
    model.model.vision_tower = vision
    model.model.multi_modal_projector = _projector(projector, config, torch_dtype)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    empty = [name for name, tensor in chain(model.named_parameters(), model.named_buffers()) if tensor.is_meta]
    if empty:
        raise RuntimeError(f"assembled model has tensors no part filled: {empty[:5]}")
    processor = LlavaProcessor(
        image_processor=_image_processor(vision_tower),
        tokenizer=tokenizer,
        patch_size=vision.config.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
        chat_template=LLAVA_15_CHAT_TEMPLATE,
    )
    return save_student(model.eval(), processor, Path(out_dir))


def _model_type(folder: Path, allowed: tuple[str, ...], what: str) -> None:
    """A ValueError naming `folder`'s config.json unless it holds one of the `allowed` model types."""
    config_file = folder / "config.json"
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (OSError, ValueError) as err:
        raise ValueError(f"{config_file}: cannot read the {what}'s config: {err}") from None
    if model_type not in allowed:
        raise ValueError(f"{config_file}: model_type {model_type!r}, but the {what} must be one of {list(allowed)}")


def _language_model(folder: Path, dtype: torch.dtype) -> tuple[LlamaForCausalLM, object]:
    """The Llama LM and its tokenizer, with `<image>` (and `<pad>` where it has none) added and the
    embeddings grown to match; the new rows are drawn around the old ones' mean, as llava-hf's were."""
    _model_type(folder, ("llama",), "language model (a LlamaForCausalLM folder, e.g. vicuna-7b-v1.5)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, ImportError) as err:
        raise ValueError(f"{folder}: cannot load the language model's tokenizer: {err}") from None
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    llm = LlamaForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
    if len(tokenizer) > llm.config.vocab_size:
        llm.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=VOCAB_MULTIPLE, mean_resizing=True)
    llm.config.pad_token_id = tokenizer.pad_token_id
    return llm, tokenizer


def _vision_tower(folder: Path, dtype: torch.dtype) -> CLIPVisionModel:
    """CLIP's vision model (`vision_model.*`) from a CLIPModel or a CLIPVisionModel folder."""
    _model_type(folder, ("clip", "clip_vision_model"), "vision tower (a CLIP folder, e.g. clip-vit-large-patch14-336)")
    return CLIPVisionModel.from_pretrained(folder, local_files_only=True, dtype=dtype)


def _image_processor(folder: Path) -> CLIPImageProcessorPil:
    """CLIP's image processor from the tower's folder, the PIL one: transformers 5.17's
    AutoImageProcessor wants torchvision for CLIP, which the project does not install."""
    try:
        return CLIPImageProcessorPil.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: no CLIP image processor (preprocessor_config.json): {err}") from None


def _projector(path: Path, config: LlavaConfig, dtype: torch.dtype) -> LlavaMultiModalProjector:
    """LLaVA's mm_projector.bin as transformers' projector. Keys are matched after `mm_projector.`, as
    LLaVA's own loader does (llava_arch.py, get_w), and every shape must fit CLIP's width and the LM's
    hidden size."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises anything from pickle, zip and its own checks
        raise ValueError(f"{path}: cannot read the projector: {err}") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: the projector must be a state dict, not {type(saved).__name__}")
    state = {key.split("mm_projector.", 1)[-1]: value for key, value in saved.items()}
    if set(state) != set(PROJECTOR_KEYS):
        raise ValueError(
            f"{path}: projector keys {sorted(saved)}; expected LLaVA's mlp2x_gelu, "
            f"model.mm_projector.{{{', '.join(PROJECTOR_KEYS)}}}"
        )
    module = LlavaMultiModalProjector(config)
    expected = module.state_dict()
    for key, name in PROJECTOR_KEYS.items():
        if tuple(state[key].shape) != tuple(expected[name].shape):
            raise ValueError(
                f"{path}: mm_projector.{key} has shape {tuple(state[key].shape)}, but CLIP's width "
                f"{config.vision_config.hidden_size} and the language model's hidden size "
                f"{config.text_config.hidden_size} need {tuple(expected[name].shape)}"
            )
    module.load_state_dict({name: state[key] for key, name in PROJECTOR_KEYS.items()})
    return module.to(dtype)

"""Loading Qwen3-TTS for training (fp32 master weights, or bf16 ones) and for inference; its optimizer."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch

from tts_assets.errors import ModelNotFoundError
from tts_assets.gpu.libraries import prepare_cuda_libraries

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    prepare_cuda_libraries()
    chosen = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if device == "auto" and chosen == "cpu":
        log.warning("no CUDA device: Qwen3-TTS runs on the CPU (slow; fine for tiny test models)")
    return chosen


def attention_implementation(device: str) -> str:
    """flash-attention-2 on a GPU where it is installed, else PyTorch's SDPA."""
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


WEIGHT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def load_for_training(path: str | Path, device: str, weights: str = "float32"):
    """The full model (speaker encoder included) with the weights the optimizer updates: fp32
    master weights, or bf16 ones for `training_optimizer`'s compensated AdamW (`qwen3.weights`).

    A custom-voice checkpoint of ours is loaded as a base model, so its speaker encoder comes back.
    """
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration

    try:
        config = Qwen3TTSConfig.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(str(path), f"{exc}; give a local Qwen3-TTS model folder when offline") from exc
    config.tts_model_type = "base"
    model = Qwen3TTSForConditionalGeneration.from_pretrained(
        str(path), config=config, dtype=WEIGHT_DTYPES[weights],
        attn_implementation=attention_implementation(device),
    )
    log.info("loaded %s for training on %s (%s attention, %s weights)", path, device,
             model.config._attn_implementation, weights)
    return model.to(device)


def load_text_processor(path: str | Path):
    """The text processor exactly as inference loads it (`Qwen3TTSModel.from_pretrained`):
    `fix_mistral_regex=True` gives a >100k-token tokenizer saved by transformers 4.57.3 another
    pre-tokenizer, which splits "McDonald" or combining marks differently. A processor loaded
    without it would train the model on ids it never sees when it speaks."""
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSProcessor
    from transformers import AutoConfig, AutoProcessor

    AutoConfig.register("qwen3_tts", Qwen3TTSConfig, exist_ok=True)
    AutoProcessor.register(Qwen3TTSConfig, Qwen3TTSProcessor, exist_ok=True)
    return AutoProcessor.from_pretrained(str(path), fix_mistral_regex=True)


def training_optimizer(parameters, weights: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW for the weights as they are kept. On bf16 weights plain AdamW rounds most small updates
    away; optimi's AdamW with Kahan summation carries each step's rounding error into the next. Its
    eps is torch's (optimi's 1e-6 would swamp gradients of 1e-6 and smaller, as a 1.7B model's are);
    beta2 stays optimi's 0.99, since a bf16 second moment cannot follow a 0.999 decay once the
    gradients shrink."""
    if weights == "bfloat16":
        from optimi import AdamW

        return AdamW(parameters, lr=lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay, kahan_sum=True)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


def local_folder(name_or_path: str) -> Path:
    """A hub id is fetched once (online) into the local cache; a folder is used as it is."""
    local = Path(name_or_path)
    if local.is_dir():
        return local
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name_or_path))
    except Exception as exc:  # offline, unknown repo, ...
        raise ModelNotFoundError(name_or_path, f"{exc}; give a local Qwen3-TTS model folder when offline") from exc


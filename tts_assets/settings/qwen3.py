"""Qwen3-TTS codes and training settings (`qwen3:`): upstream's defaults; configs/qwen3.yaml documents
every field."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tts_assets.settings.base import StrictSettings


class Qwen3Settings(StrictSettings):
    base_model: str = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"  # a local folder (offline) or a hub id (online)
    speech_tokenizer: str | None = None  # default: <base_model>/speech_tokenizer
    reference_audio: str | None = None  # default: chosen from the dataset (5–10 s, best aligned)
    device: str = "auto"  # auto | cpu | cuda
    encode_batch_size: int = 8
    epochs: int = 10
    gpus: int = Field(1, ge=1)  # >1: that many processes, one card each (data parallel)
    batch_size: int = 4  # micro-batch on each process: the global one is gpus × batch_size
    grad_accum: int = 32  # 4 × 32 = 128 clips a step, upstream's recipe (batch 32 × accumulation 4)
    lr: float = 2e-6  # upstream README; 2e-5 gave noise (QwenLM/Qwen3-TTS #39)
    # float32: fp32 master weights, 16 bytes a parameter (1.7B needs a 48 GB card). bfloat16: bf16
    # weights with Kahan-compensated AdamW (optimi), 10 bytes a parameter, meant for 1.7B on a 24 GB
    # card (not yet measured on one): the compensation keeps the updates rounding to bf16 drops.
    weights: Literal["float32", "bfloat16"] = "float32"
    weight_decay: float = 0.01
    warmup_steps: int = 10
    max_grad_norm: float = 1.0
    sub_talker_weight: float = 0.3
    save_every_steps: int = 0  # 0: at the end of each epoch only
    keep_checkpoints: int = 2
    seed: int = 0
    sample_sentences: list[str] = [
        "The quick brown fox jumps over the lazy dog.",
        "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    ]
    sample_max_new_tokens: int = 600  # 48 s at 12.5 Hz: a cap against runaway generation


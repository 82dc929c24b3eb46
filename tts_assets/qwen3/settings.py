"""Qwen3-TTS training settings: upstream's defaults, overridable from the settings YAML (`qwen3:`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from tts_assets.errors import InputFileError


class Qwen3Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_model: str = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"  # a local folder (offline) or a hub id (online)
    speech_tokenizer: str | None = None  # default: <base_model>/speech_tokenizer
    reference_audio: str | None = None  # default: chosen from the dataset (5–10 s, best aligned)
    device: str = "auto"  # auto | cpu | cuda
    encode_batch_size: int = 8
    epochs: int = 10
    batch_size: int = 4
    grad_accum: int = 8  # 4 × 8 = upstream's batch of 32
    lr: float = 2e-6  # upstream README; 2e-5 gave noise (QwenLM/Qwen3-TTS #39)
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

    @classmethod
    def load(cls, path: str | Path | None, **overrides) -> "Qwen3Settings":
        data = {}
        if path:
            try:
                data = (yaml.safe_load(Path(path).read_text()) or {}).get("qwen3", {})
            except (OSError, yaml.YAMLError) as exc:
                raise InputFileError(path, f"invalid settings: {exc}".replace("\n", " ")) from exc
        try:
            return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})
        except ValueError as exc:
            raise InputFileError(path or "qwen3 settings", str(exc).replace("\n", " ")) from exc

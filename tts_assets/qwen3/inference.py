"""Speech from a Qwen3-TTS custom-voice checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tts_assets.qwen3.model import attention_implementation, resolve_device

# The layout training builds (qwen3/batch.py): the whole text before the first frame, and no
# language tag in the codec prefix. Both are stated here, not left to `generate_custom_voice`'s
# defaults, which upstream has flipped before (non_streaming_mode, commit 0c6a7cb).
NON_STREAMING_TEXT = True
TRAINED_LANGUAGE = "Auto"


class Qwen3Voice:
    """A loaded checkpoint; `speak` returns (float32 waveform, sample rate)."""

    def __init__(self, checkpoint: Path, device: str = "auto") -> None:
        from qwen_tts.inference.qwen3_tts_model import Qwen3TTSModel

        device = resolve_device(device)
        self.checkpoint = Path(checkpoint)
        config = json.loads((self.checkpoint / "config.json").read_text())
        self.speakers = list(config["talker_config"]["spk_id"])
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        # Placed by device_map, not moved afterwards: the wrapper takes its device (where it puts
        # the input ids) from the model when it is built, so a later `.to()` left it on the CPU.
        self.model = Qwen3TTSModel.from_pretrained(
            str(self.checkpoint), dtype=dtype, attn_implementation=attention_implementation(device), device_map=device
        )

    def speak(self, text: str, speaker: str | None = None, max_new_tokens: int | None = None,
              seed: int | None = None) -> tuple[np.ndarray, int]:
        if seed is not None:
            torch.manual_seed(seed)
        wavs, rate = self.model.generate_custom_voice(
            text=text, speaker=speaker or self.speakers[0], language=TRAINED_LANGUAGE,
            non_streaming_mode=NON_STREAMING_TEXT, max_new_tokens=max_new_tokens,
        )
        return np.asarray(wavs[0], dtype=np.float32), int(rate)

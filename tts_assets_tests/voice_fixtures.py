"""A served voice for the server and evaluation tests: the tiny random-weight Qwen3-TTS model of
bench/tiny_models.py, trained for two steps on the LibriVox voice into two real custom-voice
checkpoints (`checkpoint-1`, `checkpoint-2`). Built once per session (whichever module asks first).

The tiny model's speech decoder, as Hugging Face initializes it, shrinks its signal layer by layer
to ~1e-8: silence to any measure. `make_audible` re-initializes the decoder's weights with unit
gain (std 1/sqrt(fan-in), seeded) and an output layer giving about -22 dBFS, so the tiny voice
makes sound (noise-like, no words) and a broken voice can be told apart from it.
Import the fixtures by name from test modules (conftest.py is not edited for them).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from bench.librivox import build_aligned_voice
from bench.tiny_models import build_tiny_qwen3
from tts_assets.layout import DataLayout

VOICE = "reader"
DECODER_WEIGHTS = "speech_tokenizer/model.safetensors"
_BUILT: dict[str, Path] = {}


def make_audible(model_dir: Path, output_gain: float = 0.01) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    path = model_dir / DECODER_WEIGHTS
    weights = load_file(path)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in weights.items():
        if name.startswith("decoder.") and name.endswith(".weight") and tensor.dim() >= 2 and "quantizer" not in name:
            weights[name] = torch.randn(tensor.shape, generator=generator) / math.sqrt(tensor[0].numel())
    weights["decoder.decoder.6.conv.weight"] *= output_gain  # the last convolution: the output level
    save_file(weights, path, metadata={"format": "pt"})


def silence_checkpoint(source: Path, target: Path) -> Path:
    """A copy of a checkpoint whose speech decoder weights are all zero: it speaks exact silence."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    weights = load_file(target / DECODER_WEIGHTS)
    zeroed = {k: torch.zeros_like(v) if k.startswith("decoder.") and v.is_floating_point() else v
              for k, v in weights.items()}
    save_file(zeroed, target / DECODER_WEIGHTS, metadata={"format": "pt"})
    return target


def _build(folder: Path) -> Path:
    from tts_assets.qwen3.codes import encode_voice_codes
    from tts_assets.settings import Qwen3Settings
    from tts_assets.qwen3.train import train_voice

    base = build_tiny_qwen3(folder / "tiny-base")
    make_audible(base)
    data = build_aligned_voice(folder / "voice", VOICE)
    settings = Qwen3Settings(base_model=str(base), device="cpu", epochs=1, batch_size=2, grad_accum=1, lr=1e-3,
                             warmup_steps=1, save_every_steps=1, keep_checkpoints=2)
    encode_voice_codes(DataLayout(data), VOICE, settings, "cpu")
    result = train_voice(DataLayout(data), VOICE, settings, max_steps=2)
    assert result.checkpoint.name == "checkpoint-2"
    return folder


@pytest.fixture(scope="session")
def served_voice_build(tmp_path_factory) -> Path:
    """The folder holding `tiny-base/` and `voice/data/` (read-only: copy before writing)."""
    if "root" not in _BUILT:
        _BUILT["root"] = _build(tmp_path_factory.mktemp("served_voice"))
    return _BUILT["root"]


def copy_data_root(build: Path, target: Path) -> DataLayout:
    shutil.copytree(build / "voice" / "data", target, ignore=shutil.ignore_patterns("dagster_home"))
    return DataLayout(target)

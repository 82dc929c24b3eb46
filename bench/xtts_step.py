"""Step time and memory of XTTS-v2 GPT fine-tuning, fp32 vs mixed precision, with random weights.
Meant for a GPU machine; from the repository root:

    python -m bench.xtts_step [--steps 20] [--batch-size 3] [--seconds 10] [--precisions fp32,fp16,bf16]
                              [--tiny] [--out bench.json]

Nothing is downloaded: the base files are random stand-ins (the tortoise tokenizer shipped with
coqui-tts, a random DVAE, unit mel statistics) and the clips synthetic, so the figures are the
full-size model's cost, not its quality. Each step is what coqui's Trainer does for one batch:
DVAE codes and mels on the device, GPTTrainer.train_step under autocast, backward, AdamW (with a
GradScaler for fp16, as coqui uses). Non-finite losses are counted (coqui-ai/TTS #3988: fp16 NaNs).
Its tiny-GPT mode runs in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench._common import measure_each
from tts_assets.audio.clips import read_mono
from tts_assets.layout import DataLayout
from tts_assets.xtts.config import COQUI_RATE, BaseFiles, GptSettings, XttsVoiceConfig

TEXT = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
        "foolishness, it was the epoch of belief.")
TINY = {"layers": 2, "model_channels": 64, "heads": 4, "max_audio_tokens": 300, "decoder_input_dim": 64}


def standin_files(folder: Path, gpt: GptSettings) -> BaseFiles:
    from tokenizers import Tokenizer

    import TTS
    from TTS.tts.layers.xtts.dvae import DiscreteVAE

    torch.manual_seed(0)  # the same random DVAE for every precision, so their losses compare
    tokenizer = Tokenizer.from_file(str(Path(TTS.__file__).parent / "tts/utils/assets/tortoise/tokenizer.json"))
    tokenizer.add_special_tokens(["[START]", "[en]"])
    tokenizer.save(str(folder / "vocab.json"))
    torch.save(torch.ones(80), folder / "mel_stats.pth")
    dvae = DiscreteVAE(channels=80, normalization=None, positional_dims=1, num_tokens=gpt.num_audio_tokens - 2,
                       codebook_dim=512, hidden_dim=512, num_resnet_blocks=3, kernel_size=3, num_layers=2,
                       use_transposed_convs=False)
    torch.save(dvae.state_dict(), folder / "dvae.pth")
    return BaseFiles(folder / "model.pth", folder / "dvae.pth", folder / "mel_stats.pth", folder / "vocab.json")


def synthetic_clips(folder: Path, count: int, seconds: float, seed: int = 0) -> list[dict]:
    """Voiced-sounding clips (a wandering pitch with harmonics, syllable-rate envelope, noise)."""
    rng = np.random.default_rng(seed)
    samples = []
    t = np.arange(int(seconds * COQUI_RATE)) / COQUI_RATE
    for index in range(count):
        pitch = 110 + 30 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6))
        phase = 2 * np.pi * np.cumsum(pitch) / COQUI_RATE
        voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
        audio = (0.2 * voice / np.abs(voice).max() + 0.01 * rng.normal(size=len(t))).astype(np.float32)
        path = folder / f"clip_{index}.wav"
        sf.write(path, audio, COQUI_RATE)
        samples.append({"text": TEXT, "audio_file": str(path), "speaker_name": "bench", "language": "en",
                        "root_path": str(folder)})
    return samples


def _read_with_soundfile(path, rate: int) -> torch.Tensor:
    """coqui's `load_audio` (mono, resampled to `rate`, clipped to ±1) through soundfile and soxr."""
    return torch.from_numpy(np.clip(read_mono(path, rate)[0], -1.0, 1.0)).unsqueeze(0)


@contextlib.contextmanager
def clips_read_with_soundfile():
    """coqui reads audio with `torchaudio.load` (the trainer's dataset, and the conditioning
    latents of inference), which from torchaudio 2.9 on needs torchcodec and FFmpeg: a bare GPU
    image may have neither. Within this block both read WAVs with soundfile instead."""
    from TTS.tts.layers.xtts.trainer import dataset
    from TTS.tts.models import xtts

    originals = dataset.load_audio, xtts.load_audio
    dataset.load_audio = xtts.load_audio = _read_with_soundfile
    try:
        yield
    finally:
        dataset.load_audio, xtts.load_audio = originals


def run(precision: str, gpt: dict, steps: int, batch_size: int, seconds: float, warmup: int = 3,
        device: str | None = None) -> dict:
    from tts_assets.xtts.coqui_config import build_trainer_config, import_coqui

    _, GPTTrainer, _ = import_coqui()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = XttsVoiceConfig(voice="bench", gpt=gpt, training={"batch_size": batch_size, "grad_accum_steps": 1,
                                                                  "num_loader_workers": 0})
        files = standin_files(folder, config.gpt)
        coqui = build_trainer_config(config, files, DataLayout(folder), [])
        torch.manual_seed(0)
        model = GPTTrainer(coqui).to(device)
        model.train()
        samples = synthetic_clips(folder, batch_size, seconds)
        with clips_read_with_soundfile():
            batch_cpu = next(iter(model.get_data_loader(coqui, samples=samples)))
        optimizer = model.get_optimizer()
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and device.startswith("cuda") else None
        times, losses, non_finite = [], [], 0
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        for step in range(warmup + steps):
            started = time.perf_counter()
            batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in dict(batch_cpu).items()}
            batch = model.format_batch_on_device(model.format_batch(batch))
            with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=precision != "fp32"):
                _, loss_dict = model.train_step(batch, None)
            loss = loss_dict["loss"]
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if step >= warmup:
                times.append(time.perf_counter() - started)
                losses.append(value)
                non_finite += not math.isfinite(value)
        params = sum(p.numel() for p in model.xtts.gpt.parameters())
        return {
            "precision": precision, "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
            "gpt_params_m": round(params / 1e6, 1), "batch_size": batch_size, "clip_seconds": seconds,
            "steps": steps, "mean_step_s": round(statistics.mean(times), 4),
            "median_step_s": round(statistics.median(times), 4),
            "peak_gpu_mb": int(torch.cuda.max_memory_allocated() / 2**20) if device.startswith("cuda") else None,
            "non_finite_losses": non_finite, "first_loss": losses[0], "last_loss": losses[-1],
            "scaler_scale": scaler.get_scale() if scaler else None,
        }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--precisions", default="fp32,fp16,bf16")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer GPT (a smoke run on the CPU)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    return measure_each(
        args.precisions.split(","),
        lambda precision: run(precision, TINY if args.tiny else {}, args.steps, args.batch_size, args.seconds),
        args.out,
    )


if __name__ == "__main__":
    main()

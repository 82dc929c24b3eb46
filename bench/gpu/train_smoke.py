"""The training paths end to end on a GPU, with the tests' tiny real-architecture models and real
speech: Qwen3-TTS codes → fine-tuning (bf16 autocast over fp32 weights) → a checkpoint that speaks;
XTTS-v2 export → GPT fine-tuning through coqui's trainer in fp32 and fp16 (GradScaler) → samples.
The test suite runs the same steps on a CPU; device placement, autocast, the scaler and the card
claim of `tts_assets.gpu.cards` only meet a GPU here. `--voice-data` is a data root with an aligned
voice `reader`, made here by `bench.gpu.prepare_train_smoke` (the image has no Dagster or decoder for
it). From the repository root:
    python3 -m bench.gpu.train_smoke --voice-data .gpu_smoke/data --out $OUT/train_smoke.json
Prints one JSON line per check and exits 1 if any failed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.tiny_models import build_tiny_base_model, build_tiny_qwen3, write_voice_config
from tts_assets.gpu.cards import hold_a_card
from tts_assets.layout import DataLayout

VOICE = "reader"
TEXT = "He was not an ill disposed young man."


def qwen3(data: Path, work: Path, device: str) -> dict:
    from tts_assets.qwen3.codes import encode_voice_codes
    from tts_assets.qwen3.inference import Qwen3Voice
    from tts_assets.settings import Qwen3Settings
    from tts_assets.qwen3.train import train_voice

    layout = DataLayout(shutil.copytree(data, work / "qwen3_data"))
    base = build_tiny_qwen3(work / "qwen3_base")
    settings = Qwen3Settings(base_model=str(base), device=device, epochs=6, batch_size=2, grad_accum=1, lr=1e-3,
                             warmup_steps=1, sample_max_new_tokens=20)
    summary = encode_voice_codes(layout, VOICE, settings, device)
    result = train_voice(layout, VOICE, settings)
    audio, rate = Qwen3Voice(result.checkpoint, device).speak(TEXT, max_new_tokens=20, seed=0)
    losses = result.train_losses
    return {
        "check": "qwen3", "device": device, "codes": summary, "steps": result.step, "first_losses": losses[:3], "last_losses": losses[-3:],
        "val_losses": result.val_losses, "spoken_s": round(len(audio) / rate, 3), "rate": rate,
        "passed": bool(all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3
                       and result.val_losses[-1] < result.val_losses[0]
                       and rate == 24000 and len(audio) >= 1920 and np.isfinite(audio).all()),
    }


def xtts(data: Path, work: Path, device: str, precision: str) -> dict:
    from bench.xtts_step import clips_read_with_soundfile
    from tts_assets.xtts.config import XttsVoiceConfig
    from tts_assets.xtts.export import export_xtts_dataset
    from tts_assets.xtts.samples import render_samples
    from tts_assets.xtts.train import train_xtts

    layout = DataLayout(shutil.copytree(data, work / f"xtts_{precision}_data"))
    base = work / "xtts_base"
    if not base.exists():
        build_tiny_base_model(base)
    training = {"epochs": 8, "lr": 1e-4, "mixed_precision": precision != "fp32", "precision": "fp16"}
    config = XttsVoiceConfig.load(write_voice_config(work / f"xtts_{precision}.yaml", base, training=training,
                                                     samples={"device": device}))
    exported = export_xtts_dataset(layout, config)
    with clips_read_with_soundfile():  # the GPU image's torchaudio has no decoder of its own
        result = train_xtts(layout, config)
        samples = render_samples(layout, config, device=device)
    losses = [row["loss"] for row in result.losses]
    spoken = [sf.read(path, dtype="float32") for path in samples.files]
    return {
        "check": f"xtts_{precision}", "exported": {k: exported[k] for k in ("train", "eval", "rejections_by_reason")}, "device": result.device,
        "steps": result.step, "losses": [round(x, 4) for x in losses], "peak_gpu_mb": result.peak_gpu_mb,
        "samples": [{"seconds": round(len(a) / r, 3), "rate": r} for a, r in spoken],
        "passed": bool(result.device.startswith(device.split(":")[0]) and losses and all(np.isfinite(losses))
                       and losses[-1] < losses[0] and spoken
                       and all(r == 24000 and len(a) > 12000 and np.isfinite(a).all() and np.abs(a).max() > 0
                               for a, r in spoken)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voice-data", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    checks = {"qwen3": lambda w: qwen3(args.voice_data, w, args.device),
              "xtts_fp32": lambda w: xtts(args.voice_data, w, args.device, "fp32"),
              "xtts_fp16": lambda w: xtts(args.voice_data, w, args.device, "fp16")}
    results = []
    card = hold_a_card()  # as a pipeline step does: one card, the only one visible (nvidia-smi lists them)
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in checks.items():
            started = time.perf_counter()
            try:
                result = check(Path(tmp))
            except Exception as error:  # one failing check still leaves the others' results
                traceback.print_exc()
                result = {"check": name, "passed": False, "error": f"{type(error).__name__}: {error}"}
            result.update(card=card, visible=os.environ.get("CUDA_VISIBLE_DEVICES"),
                          wall_s=round(time.perf_counter() - started, 1))
            print(json.dumps(result, default=str), flush=True)
            results.append(result)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The voice config's fixed sentences spoken by one XTTS checkpoint, beside it and into TensorBoard
(the job of `qwen3/samples.py`)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tts_assets.atomic import write_text_atomic, write_wav_atomic
from tts_assets.layout import DataLayout
from tts_assets.xtts import paths
from tts_assets.xtts.config import OUTPUT_RATE, XttsVoiceConfig
from tts_assets.xtts.inference import load_voice, resolve_checkpoint, synthesize

log = logging.getLogger(__name__)


@dataclass
class SamplesResult:
    folder: Path
    checkpoint: Path
    step: int
    files: list[Path]
    rows: list[dict]
    references: list[Path]


def render_samples(layout: DataLayout, config: XttsVoiceConfig, checkpoint: Path | str = "last",
                   device: str | None = None) -> SamplesResult:
    """The config's fixed sentences spoken by one checkpoint (default: the run's newest), into
    `<run>/samples/step_<N>/sample_<i>.wav` + `samples.json`, and TensorBoard (`samples/<i>`)."""
    if not isinstance(checkpoint, Path):
        checkpoint = resolve_checkpoint(layout, config, checkpoint)
    voice = load_voice(layout, config, checkpoint, device)
    in_a_run = checkpoint.parent.parent.resolve() == paths.xtts_models_dir(layout, config.voice).resolve()
    run_name = checkpoint.parent.name if in_a_run else config.training.run_name  # beside its checkpoint
    run = paths.run_dir(layout, config.voice, run_name)
    folder = paths.samples_dir(layout, config.voice, run_name, voice.step)
    rows, files = [], []
    for index, sentence in enumerate(config.samples.sentences):
        started = time.perf_counter()
        wav = synthesize(voice, config, sentence)
        elapsed = time.perf_counter() - started
        target = folder / f"sample_{index}.wav"
        write_wav_atomic(target, np.clip(wav, -1.0, 1.0), OUTPUT_RATE, "PCM_16")
        seconds = len(wav) / OUTPUT_RATE
        rows.append({
            "file": target.name, "text": sentence, "seconds": round(seconds, 3),
            "rms": round(float(np.sqrt(np.mean(wav**2))) if len(wav) else 0.0, 5),
            "peak": round(float(np.max(np.abs(wav))) if len(wav) else 0.0, 5),
            "finite": bool(np.isfinite(wav).all()), "synthesis_s": round(elapsed, 2),
            "real_time_factor": round(elapsed / seconds, 3) if seconds else None,
        })
        files.append(target)
        log.info("%s: sample %d (%.1f s of audio in %.1f s): %s", config.voice, index, seconds, elapsed, sentence)
    record = {"voice": config.voice, "checkpoint": str(voice.checkpoint), "step": voice.step,
              "references": [str(p) for p in voice.references], "sample_rate": OUTPUT_RATE, "samples": rows}
    write_text_atomic(folder / "samples.json", json.dumps(record, indent=2) + "\n")
    write_text_atomic(paths.latest_samples(layout, config.voice),
                      json.dumps({**record, "folder": str(folder)}, indent=2) + "\n")
    _to_tensorboard(run / "samples", voice.step, files, rows)
    return SamplesResult(folder, voice.checkpoint, voice.step, files, rows, voice.references)


def _to_tensorboard(log_dir: Path, step: int, files: list[Path], rows: list[dict]) -> None:
    import soundfile as sf
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(log_dir))
    try:
        for index, (path, row) in enumerate(zip(files, rows)):
            audio, rate = sf.read(path, dtype="float32")
            writer.add_audio(f"samples/{index}", torch.from_numpy(audio).unsqueeze(0), step, sample_rate=rate)
            writer.add_text(f"samples/{index}/text", row["text"], step)
    finally:
        writer.close()

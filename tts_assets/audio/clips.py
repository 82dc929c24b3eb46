"""Whole short clips read into memory (a book is streamed instead: `decode.stream_pcm`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


def read_mono(path: Path | str, rate: int | None = None) -> tuple[np.ndarray, int]:
    """A clip as mono float32 and its sample rate: resampled to `rate` when one is given."""
    audio, source_rate = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate is None or rate == source_rate:
        return audio, source_rate
    return soxr.resample(audio, source_rate, rate).astype(np.float32), rate

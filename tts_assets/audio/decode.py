"""Streaming decode to mono float32 at a chosen rate, in bounded chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from tts_assets.audio.probe import open_audio
from tts_assets.errors import UnreadableAudioError


def stream_pcm(
    path: Path,
    sample_rate: int,
    chunk_seconds: float = 10.0,
    expected_duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 chunks of about `chunk_seconds` at `sample_rate`.

    Memory stays at one chunk whatever the length of the book. A decode error part-way
    raises `UnreadableAudioError` naming the file and the time it happened; so does a file
    that ends well before the `expected_duration` its header announced (a truncated copy).
    """
    chunk_samples = max(1, int(chunk_seconds * sample_rate))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    pending: list[np.ndarray] = []
    pending_samples = 0
    decoded_samples = 0
    with open_audio(path) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1))
                    pending_samples += out.samples
                if pending_samples >= chunk_samples:
                    joined = np.concatenate(pending)
                    for start in range(0, len(joined) - chunk_samples + 1, chunk_samples):
                        yield joined[start : start + chunk_samples]
                    rest = joined[len(joined) - len(joined) % chunk_samples :]
                    decoded_samples += len(joined) - len(rest)
                    pending, pending_samples = [rest], len(rest)
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            at = (decoded_samples + pending_samples) / sample_rate
            raise UnreadableAudioError(path, f"decode failed at {at:.1f} s: {exc}") from exc
    tail = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    if len(tail):
        yield tail
    decoded = (decoded_samples + len(tail)) / sample_rate
    if expected_duration and decoded < expected_duration - max(1.0, 0.02 * expected_duration):
        raise UnreadableAudioError(
            path, f"truncated: audio ends at {decoded:.1f} s of the {expected_duration:.1f} s announced"
        )

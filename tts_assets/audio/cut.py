"""Cut many clips out of one streaming decode of a source file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tts_assets.atomic import atomic_path
from tts_assets.audio.decode import stream_pcm

# A clip may end this far past the decoded audio (rounding of word times at the very end).
END_TOLERANCE_S = 0.1


@dataclass(frozen=True)
class CutRequest:
    start: float
    end: float
    out_path: Path


@dataclass(frozen=True)
class CutResult:
    request: CutRequest
    samples: int  # 0 when the clip lies past the end of the decoded audio


def write_wav_atomic(target: Path, samples: np.ndarray, sample_rate: int, subtype: str) -> None:
    with atomic_path(target) as tmp:
        sf.write(tmp, samples, sample_rate, subtype=subtype, format="WAV")


def cut_clips(
    source: Path,
    requests: list[CutRequest],
    sample_rate: int = 24000,
    subtype: str = "PCM_16",
    chunk_seconds: float = 5.0,
) -> list[CutResult]:
    """Decode `source` once, resampled to mono `sample_rate`, and write every requested clip.

    Only the audio between the earliest unwritten clip's start and the decode position is
    held, so memory is bounded by the longest clip, not by the book. Each clip is written
    atomically. Results come back in the order of `requests`.
    """
    order = sorted(range(len(requests)), key=lambda i: requests[i].start)
    bounds = [
        (max(0, round(r.start * sample_rate)), max(0, round(r.end * sample_rate))) for r in requests
    ]
    results: dict[int, CutResult] = {}
    buffer = np.zeros(0, dtype=np.float32)
    buffer_offset = 0  # sample index of buffer[0] in the decoded stream
    next_pos = 0  # index into `order`

    def flush(final: bool) -> None:
        nonlocal buffer, buffer_offset, next_pos
        available_end = buffer_offset + len(buffer)
        while next_pos < len(order):
            index = order[next_pos]
            start, end = bounds[index]
            if end > available_end:
                if not final:
                    break
                if end - available_end > END_TOLERANCE_S * sample_rate or start >= available_end:
                    results[index] = CutResult(requests[index], 0)
                    next_pos += 1
                    continue
                end = available_end
            clip = buffer[start - buffer_offset : end - buffer_offset]
            write_wav_atomic(requests[index].out_path, clip, sample_rate, subtype)
            results[index] = CutResult(requests[index], len(clip))
            next_pos += 1
        keep_from = bounds[order[next_pos]][0] if next_pos < len(order) else available_end
        drop = min(max(0, keep_from - buffer_offset), len(buffer))
        buffer = buffer[drop:]
        buffer_offset += drop

    if requests:
        for chunk in stream_pcm(source, sample_rate, chunk_seconds):
            buffer = np.concatenate([buffer, chunk]) if len(buffer) else chunk
            flush(final=False)
            if next_pos == len(order):
                break
        flush(final=True)
    return [results[i] for i in range(len(requests))]

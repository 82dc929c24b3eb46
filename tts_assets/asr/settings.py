"""Whisper settings, apart from the transcriber so that reading settings loads no audio decoder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AsrSettings:
    # auto (the best for the device: large-v3-turbo on CUDA, small on a CPU; the packaged tiny.en
    # offline), a model name (downloaded when online) or a local CTranslate2 folder
    model: str = "auto"
    language: str | None = None  # None: detect (multilingual models only)
    device: str = "auto"
    compute_type: str = "default"  # int8 on CPU, float16 on GPU
    batch_size: int = 8  # >1: faster-whisper's BatchedInferencePipeline; 1: sequential decoding
    beam_size: int = 5
    cpu_threads: int = 0
    window_s: float = 1200.0  # audio held per transcription call
    edge_s: float = 30.0  # segments ending this close to a window's end are redone in the next
    # Batched decoding returns ~30 s segments; a pause longer than this inside one starts a new
    # segment, so segments are runs of speech as sequential decoding would give.
    segment_pause_s: float = 0.5

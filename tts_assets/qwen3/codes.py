"""Audio-code manifests: every kept clip encoded once by the 12 Hz speech tokenizer, in batches.

Writes `train_manifest_qwen3.jsonl` (upstream's fields: `audio`, `text`, `ref_audio`,
`audio_codes`) and a compact NumPy store the trainer reads (`qwen3_codes.npz`: one int16 array of
all frames × 16 codebooks, with offsets) — JSON lists are several times larger.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tts_assets.atomic import atomic_path, write_text_atomic
from tts_assets.audio.clips import read_mono
from tts_assets.errors import InputFileError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, write_jsonl
from tts_assets.qwen3.paths import codes_manifest, codes_store, codes_summary
from tts_assets.settings import Qwen3Settings

log = logging.getLogger(__name__)

QWEN3_RATE = 24000


def load_24k(path: Path) -> np.ndarray:
    """Mono float32 at 24 kHz; other rates are resampled here, before any model sees them."""
    return read_mono(path, QWEN3_RATE)[0]


def choose_reference(rows: list[dict], dataset_dir: Path) -> Path:
    """A 5–10 s training clip with the best alignment score (else the longest): the voice's
    reference for its speaker embedding."""
    train = [r for r in rows if r.get("split", "train") == "train"] or rows
    if not train:
        raise InputFileError(dataset_dir, "the aligned dataset has no clips to choose a reference from")
    in_range = [r for r in train if 5.0 <= r["duration"] <= 10.0]
    best = max(in_range, key=lambda r: r.get("align_score", 0.0)) if in_range else max(train, key=lambda r: r["duration"])
    return dataset_dir / best["audio_file"]


def speech_tokenizer_path(settings: Qwen3Settings) -> str:
    if settings.speech_tokenizer:
        return settings.speech_tokenizer
    local = Path(settings.base_model)
    if local.is_dir():
        return str(local / "speech_tokenizer")
    return "Qwen/Qwen3-TTS-Tokenizer-12Hz"


def encode_voice_codes(layout: DataLayout, voice: str, settings: Qwen3Settings, device: str) -> dict:
    from qwen_tts.inference.qwen3_tts_tokenizer import Qwen3TTSTokenizer

    dataset_dir = layout.dataset_dir(voice)
    manifest = layout.aligned_manifest(voice)
    if not manifest.is_file():
        raise InputFileError(manifest, "no aligned dataset; run `tts-assets align` first")
    rows = list(read_jsonl(manifest))
    reference = Path(settings.reference_audio) if settings.reference_audio else choose_reference(rows, dataset_dir)
    if not reference.is_file():
        raise InputFileError(reference, "reference audio not found")
    tokenizer = Qwen3TTSTokenizer.from_pretrained(speech_tokenizer_path(settings), device_map=device)
    frames_per_row: list[np.ndarray] = [None] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["duration"])  # similar lengths batch together
    for start in range(0, len(order), settings.encode_batch_size):
        batch = order[start : start + settings.encode_batch_size]
        audios = [load_24k(dataset_dir / rows[i]["audio_file"]) for i in batch]
        encoded = tokenizer.encode(audios, sr=QWEN3_RATE)
        for i, codes in zip(batch, encoded.audio_codes):
            frames_per_row[i] = codes.cpu().numpy().astype(np.int16)
        log.info("%s: encoded %d of %d clips", voice, min(start + len(batch), len(rows)), len(rows))

    offsets = np.cumsum([0] + [len(f) for f in frames_per_row]).astype(np.int64)
    store = codes_store(layout, voice)
    with atomic_path(store) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, codes=np.concatenate(frames_per_row) if rows else np.zeros((0, 16), np.int16),
                 offsets=offsets)
    write_jsonl(codes_manifest(layout, voice), (
        {
            "audio": str(dataset_dir / row["audio_file"]),
            "text": row["text"],
            "ref_audio": str(reference),
            "audio_codes": frames.tolist(),
            "split": row.get("split", "train"),
            "duration": row["duration"],
            "codes_index": index,
        }
        for index, (row, frames) in enumerate(zip(rows, frames_per_row))
    ))
    summary = {
        "clips": len(rows),
        "frames": int(offsets[-1]),
        "reference": str(reference),
        "store_bytes": store.stat().st_size,
        "manifest_bytes": codes_manifest(layout, voice).stat().st_size,
    }
    write_text_atomic(codes_summary(layout, voice), json.dumps(summary, indent=2) + "\n")
    return summary

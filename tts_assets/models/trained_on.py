"""Which voices' models are out of date: a model records the dataset it was trained on.

The fingerprint is a hash of what the trainers read from the voice's aligned manifest
(`train_aligned.jsonl`): each clip's audio (its file and cut), text, split and alignment score (Qwen3
picks its reference clip by it). Columns only reports and the review page read (speaker similarity,
DNSMOS) are left out: they move when another book refines the voice's estimate, and a rebuilt,
unchanged book must not retrain the voice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl

RECORD = "trained_on.json"
TRAINED_FIELDS = ("audio_file", "source", "start", "end", "duration", "sample_rate", "text", "split", "align_score")


def dataset_fingerprint(layout: DataLayout, voice: str) -> str | None:
    manifest = layout.aligned_manifest(voice)
    if not manifest.is_file():
        return None
    digest = hashlib.sha256()
    for row in read_jsonl(manifest):  # streamed: one row at a time
        digest.update(json.dumps([row.get(field) for field in TRAINED_FIELDS], ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()[:16]


def record_trained(model_dir: Path, fingerprint: str | None, checkpoint: Path, step: int) -> None:
    write_text_atomic(model_dir / RECORD, json.dumps(
        {"dataset_fingerprint": fingerprint, "checkpoint": checkpoint.name, "step": step}, indent=2) + "\n")


def trained_on(model_dir: Path) -> str | None:
    record = model_dir / RECORD
    return json.loads(record.read_text())["dataset_fingerprint"] if record.is_file() else None


def needs_training(layout: DataLayout, voice: str, model_dir: Path) -> tuple[bool, str]:
    current = dataset_fingerprint(layout, voice)
    if current is None:
        return False, "no aligned dataset"
    if layout.aligned_manifest(voice).stat().st_size == 0:  # every clip rejected, or no book built yet
        return False, "no clips in the aligned dataset"
    previous = trained_on(model_dir)
    if previous is None:
        return True, "never trained"
    if previous != current:
        return True, f"dataset changed since the last checkpoint ({previous} → {current})"
    return False, "up to date"

"""Which voices' models are out of date: a model records the dataset it was trained on.

The fingerprint is a hash of the voice's aligned manifest (`train_aligned.jsonl`), which changes
whenever a clip, its text or its split changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.layout import DataLayout

RECORD = "trained_on.json"


def dataset_fingerprint(layout: DataLayout, voice: str) -> str | None:
    manifest = layout.aligned_manifest(voice)
    if not manifest.is_file():
        return None
    digest = hashlib.sha256()
    with open(manifest, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
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

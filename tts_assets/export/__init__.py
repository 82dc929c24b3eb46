"""Exports other trainers read, each from the voice's aligned dataset and its train/val split:
LJSpeech (coqui's `ljspeech` formatter), a Hugging Face audiofolder (`datasets.load_dataset`) and
lhotse manifests. Clips are hard-linked, not re-encoded; each export is built beside its folder and
renamed into place."""

from __future__ import annotations

import json
from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.export.audiofolder import write_audiofolder
from tts_assets.export.clips import EXPORT_RECORD, SPLITS, ExportError, building, read_clips
from tts_assets.export.ljspeech import write_ljspeech
from tts_assets.export.lhotse_manifests import write_lhotse
from tts_assets.layout import DataLayout

__all__ = ["EXPORT_RECORD", "FORMATS", "ExportError", "export_voice"]

FORMATS = {"ljspeech": write_ljspeech, "hf": write_audiofolder, "lhotse": write_lhotse}


def export_voice(layout: DataLayout, voice: str, fmt: str, language: str, out: Path | None = None) -> dict:
    """Write the voice's `fmt` export into `out` (default: `layout.export_dir`); return its record,
    which is also its `export.json`."""
    clips = read_clips(layout, voice)
    target = Path(out).resolve() if out else layout.export_dir(voice, fmt)
    with building(target) as build:
        linked = FORMATS[fmt](build, target, clips, voice, language)
        record = {
            "format": fmt,
            "voice": voice,
            "folder": str(target),
            "source": str(layout.aligned_manifest(voice)),
            "clips": {split: sum(c.split == split for c in clips) for split in SPLITS},
            "minutes": {split: round(sum(c.duration for c in clips if c.split == split) / 60, 3) for split in SPLITS},
            "sample_rates": sorted({c.sample_rate for c in clips}),
            "linked": linked,
            "copied": len(clips) - linked,
        }
        write_text_atomic(build / EXPORT_RECORD, json.dumps(record, indent=2) + "\n")
    return record

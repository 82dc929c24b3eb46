"""LJSpeech 1.1's layout: `wavs/<id>.wav` and pipe-separated `id|transcription|normalized
transcription` lines without a header, one metadata file per split in one folder.

One folder with `metadata_train.csv` and `metadata_val.csv` rather than a folder per split: coqui's
`ljspeech` formatter (and LJSpeech readers like it) find the audio at `<root>/wavs/<id>.wav` and take
the metadata file's name from the config (`meta_file_train`, `meta_file_val`), so both splits share
one `wavs/`. The formatter splits lines on `|` with no quoting, so a `|` in a text becomes a space.
"""

from __future__ import annotations

from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.export.clips import SPLITS, ExportClip, link_or_copy

WAVS = "wavs"


def metadata_file(split: str) -> str:
    return f"metadata_{split}.csv"


def _field(text: str) -> str:
    return " ".join(text.replace("|", " ").split())


def write_ljspeech(build: Path, final: Path, clips: list[ExportClip], voice: str, language: str) -> int:
    linked = sum(link_or_copy(clip.audio, build / WAVS / f"{clip.id}.wav") for clip in clips)
    for split in SPLITS:
        lines = [f"{c.id}|{_field(c.text_original)}|{_field(c.text)}\n" for c in clips if c.split == split]
        write_text_atomic(build / metadata_file(split), "".join(lines))
    return linked

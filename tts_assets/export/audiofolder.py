"""A Hugging Face `datasets` audiofolder: `train/` and `validation/` (folder names `load_dataset`
takes as the splits), each with its clips and a `metadata.jsonl` whose `file_name` names them.

An audiofolder rather than Parquet with an Audio column: its clips are the dataset's own files
(hard-linked), where Parquet would store a second copy of every clip's bytes.
"""

from __future__ import annotations

from pathlib import Path

from tts_assets.export.clips import ExportClip, link_or_copy
from tts_assets.manifest.io import write_jsonl

METADATA = "metadata.jsonl"
SPLIT_FOLDERS = {"train": "train", "val": "validation"}


def write_audiofolder(build: Path, final: Path, clips: list[ExportClip], voice: str, language: str) -> int:
    linked = 0
    for split, folder in SPLIT_FOLDERS.items():
        chosen = [c for c in clips if c.split == split]
        if not chosen:  # an empty split folder would be a split without data files, which load_dataset refuses
            continue
        linked += sum(link_or_copy(c.audio, build / folder / f"{c.id}.wav") for c in chosen)
        write_jsonl(build / folder / METADATA, ({
            "file_name": f"{c.id}.wav", "id": c.id, "text": c.text, "text_original": c.text_original,
            "duration": c.duration, "speaker": voice, "language": language, "book": c.book,
        } for c in chosen))
    return linked

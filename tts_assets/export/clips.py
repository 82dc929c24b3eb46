"""What every export shares: the aligned dataset's clips, audio linked (not re-encoded), and a folder
that appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tts_assets.atomic import TEMPORARY_SUFFIX
from tts_assets.errors import PathError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl

# Written last into every export: what it holds, and the sign that a folder may be replaced.
EXPORT_RECORD = "export.json"
SPLITS = ("train", "val")  # as tts_assets.dataset.aligned.split_of gives them


class ExportError(PathError):
    """No aligned dataset to export, a clip file it lists is gone, or a folder that is not an export."""


@dataclass(frozen=True)
class ExportClip:
    id: str  # the clip file's stem, which starts with its book's key: unique within a voice
    split: str  # train or val
    audio: Path
    text: str  # what is spoken (normalized)
    text_original: str  # as written
    duration: float
    sample_rate: int
    book: str
    words: list[dict]  # word, start, end, score: seconds within the clip


def one_line(text: str) -> str:
    return " ".join(str(text or "").split())


def read_clips(layout: DataLayout, voice: str) -> list[ExportClip]:
    """The kept clips of `train_aligned.jsonl`, each with its file checked."""
    manifest = layout.aligned_manifest(voice)
    if not manifest.is_file():
        raise ExportError(manifest, f"no aligned dataset for voice {voice!r}; run `tts-assets align {voice}` first")
    clips = []
    for row in read_jsonl(manifest):
        audio = layout.dataset_dir(voice) / row["audio_file"]
        if not audio.is_file():
            raise ExportError(audio, f"listed in {manifest.name} but missing; run `tts-assets align {voice}` again")
        clips.append(ExportClip(
            id=audio.stem, split=row["split"], audio=audio, text=one_line(row["text"]),
            text_original=one_line(row.get("text_original") or row["text"]), duration=row["duration"],
            sample_rate=row["sample_rate"], book=row["book"], words=row.get("words") or [],
        ))
    if not clips:
        raise ExportError(manifest, f"no clips to export: every clip was rejected (see {layout.aligned_rejections(voice).name})")
    return clips


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link `source` as `target` (no second copy, the same bytes); copy where a link cannot be
    made (another file system, a file system without hard links). True when linked.

    The aligned dataset replaces its files by renaming new ones over them, so a linked export keeps
    the clips it was made from even after a re-alignment."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copyfile(source, target)
        return False


def _leftovers(target: Path) -> list[Path]:
    """Folders a killed export of `target` left beside it."""
    return [p for p in target.parent.glob(f".{target.name}.*{TEMPORARY_SUFFIX}") if p.is_dir()]


@contextlib.contextmanager
def building(target: Path) -> Iterator[Path]:
    """A new folder beside `target` to build the export in; once the block succeeds it takes
    `target`'s place (the old export, if any, is renamed away first and then deleted), so `target`
    is always a whole export or absent. A failure deletes the half-built folder."""
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or (target / EXPORT_RECORD).is_file())):
        raise ExportError(target, "exists and is not an export (no export.json); name a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    leftovers = _leftovers(target)
    build = target.parent / f".{target.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
    build.mkdir()
    try:
        yield build
        if target.exists():
            old = target.parent / f".{target.name}.{secrets.token_hex(4)}.old{TEMPORARY_SUFFIX}"
            os.replace(target, old)
            leftovers.append(old)
        os.replace(build, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    for folder in leftovers:
        shutil.rmtree(folder, ignore_errors=True)

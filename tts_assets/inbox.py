"""What is waiting in `<data_root>/inbox/<voice>/`, and which of it has stopped changing.

An audiobook is a file with an audio suffix (with an optional `<name>.segments.jsonl` beside it);
a folder holding `transcripts.jsonl` is a set of curated clips. A file is ready when its size and
modification time are the same on two consecutive looks, so a book still being copied waits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tts_assets.layout import AUDIO_SUFFIXES, DataLayout, slugify
from tts_assets.sources import BookSource, book_key

log = logging.getLogger(__name__)

CURATED_TRANSCRIPTS = "transcripts.jsonl"


@dataclass(frozen=True)
class InboxItem:
    voice: str
    book: str
    source: BookSource
    fingerprint: str  # size and mtime of every file involved


def _stat(paths: list[Path]) -> str:
    parts = []
    for path in paths:
        stat = path.stat()
        parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
    return ",".join(parts)


def scan_inbox(layout: DataLayout) -> list[InboxItem]:
    items = []
    inbox = layout.root / "inbox"
    if not inbox.is_dir():
        return items
    for voice_dir in sorted(p for p in inbox.iterdir() if p.is_dir()):
        try:
            voice = slugify(voice_dir.name)
        except ValueError as exc:
            log.warning("inbox: %s skipped: %s", voice_dir, exc)
            continue
        for entry in sorted(voice_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_file() and entry.suffix.lower() in AUDIO_SUFFIXES:
                    segments = entry.with_name(entry.stem + ".segments.jsonl")
                    has_segments = segments.is_file()
                    source = BookSource("audiobook", str(entry), str(segments) if has_segments else None)
                    watched = [entry, segments] if has_segments else [entry]
                    items.append(InboxItem(voice, book_key(entry), source, _stat(watched)))
                elif entry.is_dir() and (entry / CURATED_TRANSCRIPTS).is_file():
                    transcripts = entry / CURATED_TRANSCRIPTS
                    clips = sorted(p for p in entry.rglob("*") if p.is_file())
                    source = BookSource("curated", str(entry), transcripts_jsonl=str(transcripts))
                    items.append(InboxItem(voice, slugify(entry.name), source, _stat(clips)))
            except FileNotFoundError:  # removed while we looked: it will be seen next time
                continue
            except ValueError as exc:  # a name with nothing to make a key of; the others go on
                log.warning("inbox: %s skipped: %s", entry, exc)
    return items


def ready_items(
    items: list[InboxItem], last_seen: dict[str, str], submitted: dict[str, str]
) -> tuple[list[InboxItem], dict[str, str]]:
    """Items whose fingerprint matches the previous look and differs from what was submitted.

    Returns them and the fingerprints seen now (the next tick's `last_seen`).
    """
    seen_now = {f"{i.voice}/{i.book}": i.fingerprint for i in items}
    ready = [
        item for item in items
        if last_seen.get(f"{item.voice}/{item.book}") == item.fingerprint
        and submitted.get(f"{item.voice}/{item.book}") != item.fingerprint
    ]
    return ready, seen_now

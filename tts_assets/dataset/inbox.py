"""What is waiting in `<data_root>/inbox/<voice>/`, and which of it has stopped changing.

An audiobook is a file with an audio suffix (with an optional `<name>.segments.jsonl` and the book's
own text, `<name>.txt`, `.md` or `.epub`, beside it),
directly in the voice's folder or in folders below it (`Disc 1/Track 01.mp3` is book
`disc_1_track_01`); a folder holding `transcripts.jsonl` is a set of curated clips. A file is
ready when its size and modification time are the same on two consecutive looks, so a book still
being copied waits. What cannot be used (a link leading outside the data root, audio directly in
`inbox/`, two voice folders with one key) is returned as a note for the log, never dropped in
silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tts_assets.atomic import write_text_atomic
from tts_assets.errors import TtsAssetsError
from tts_assets.dataset.keys import assign_book_key, book_name, registered_sources
from tts_assets.layout import AUDIO_SUFFIXES, DataLayout, slugify
from tts_assets.settings import VoiceSettings
from tts_assets.dataset.sources import BookSource
from tts_assets.text.book_text import BOOK_TEXT_SUFFIXES

CURATED_TRANSCRIPTS = "transcripts.jsonl"
VOICE_SETTINGS = "voice.yaml"


@dataclass(frozen=True)
class InboxItem:
    voice: str
    book: str
    source: BookSource
    fingerprint: str  # size and mtime of every file involved
    voice_name: str = ""  # the folder's name, which the voice's key is claimed with


@dataclass
class InboxScan:
    items: list[InboxItem] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # path → why it is not used
    voices: dict[str, Path] = field(default_factory=dict)  # voice key → its inbox folder


def _stat(paths: list[Path]) -> str:
    parts = []
    for path in paths:
        stat = path.stat()
        parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
    return ",".join(parts)


def _outside_link(path: Path, root: Path) -> Path | None:
    """Where `path` leads when a link on the way takes it outside `root`, else None."""
    target = path.resolve()
    return None if target.is_relative_to(root) else target


def _voice_folders(inbox: Path, layout: DataLayout, scan: InboxScan) -> Iterator[tuple[str, Path]]:
    """(voice key, folder) for each voice folder; two folders with one key are both reported, and
    a folder whose name differs from the one the key was claimed with is skipped."""
    by_key: dict[str, list[Path]] = {}
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in AUDIO_SUFFIXES:
            scan.notes[str(entry)] = "audio directly in inbox/: put it in inbox/<voice>/"
        elif entry.is_dir():
            try:
                by_key.setdefault(slugify(entry.name), []).append(entry)
            except TtsAssetsError as exc:
                scan.notes[str(entry)] = str(exc)
    for key, folders in by_key.items():
        record = layout.voice_record(key)
        claimed = json.loads(record.read_text())["name"] if record.is_file() else None
        if claimed is not None:
            folders = [f for f in folders if f.name == claimed or f.name == key]
        if len(folders) != 1:
            for folder in by_key[key]:
                scan.notes[str(folder)] = (
                    f"voice folders {', '.join(repr(f.name) for f in by_key[key])} share the key {key!r}"
                    + (f" of voice {claimed!r}" if claimed else "") + ": rename all but one"
                )
            continue
        yield key, folders[0]


def scan_inbox(layout: DataLayout, follow_outside_links: bool = False) -> InboxScan:
    scan = InboxScan()
    inbox = layout.root / "inbox"
    if not inbox.is_dir():
        return scan
    root = layout.root.resolve()
    for voice, voice_dir in _voice_folders(inbox, layout, scan):
        scan.voices[voice] = voice_dir
        registered = registered_sources(layout, voice)
        taken: dict[str, str] = {}  # keys handed out in this scan

        def add(entry: Path, kind: str, watched: list[Path], **paths) -> None:
            if not follow_outside_links:
                target = next(filter(None, (_outside_link(p, root) for p in [entry, *watched])), None)
                if target:
                    scan.notes[str(entry)] = (f"leads outside the data root, to {target}; set "
                                              "dataset.inputs.follow_outside_links to use it")
                    return
            resolved = str(entry.resolve())
            twin = next((key for key, path in taken.items() if path == resolved), None)
            if twin:  # two names (a link) for one file: one book
                scan.notes[str(entry)] = f"the same file as book {twin!r}"
                return
            book = assign_book_key(layout, voice, entry, book_name(entry, voice_dir), {**registered, **taken})
            taken[book] = resolved
            source = BookSource(kind, str(entry), **paths)
            scan.items.append(InboxItem(voice, book, source, _stat(watched), voice_dir.name))

        for entry, kind in _entries(voice_dir):
            try:
                if kind == "curated":
                    transcripts = entry / CURATED_TRANSCRIPTS
                    clips = sorted(p for p in entry.rglob("*") if p.is_file())
                    add(entry, "curated", clips, transcripts_jsonl=str(transcripts))
                else:
                    segments = entry.with_name(entry.stem + ".segments.jsonl")
                    has_segments = segments.is_file()
                    text = next((t for t in map(entry.with_suffix, BOOK_TEXT_SUFFIXES) if t.is_file()), None)
                    watched = [entry, *([segments] if has_segments else []), *([text] if text else [])]
                    add(entry, "audiobook", watched, segments_jsonl=str(segments) if has_segments else None,
                        book_text=str(text) if text else None)
            except FileNotFoundError:  # removed while we looked: it will be seen next time
                continue
            except TtsAssetsError as exc:  # a name that makes no key; the others go on
                scan.notes[str(entry)] = str(exc)
    return scan


def adopt_voice_settings(layout: DataLayout, voice: str, voice_dir: Path) -> bool:
    """Take `voice.yaml` from the voice's inbox folder (checked, paths made absolute) into
    `work/<voice>/voice.yaml`, where every run reads it; True when it changed. A bad file raises
    `InputFileError` and the last good one stays."""
    given = voice_dir / VOICE_SETTINGS
    target = layout.voice_settings(voice)
    if not given.is_file():
        return False
    text = yaml.safe_dump(VoiceSettings.load(given).model_dump(exclude_none=True), sort_keys=False)
    if target.is_file() and target.read_text() == text:
        return False
    write_text_atomic(target, text)
    return True


def _entries(folder: Path, seen: set[Path] | None = None) -> Iterator[tuple[Path, str]]:
    """Audiobook files and curated-clip folders under a voice folder (hidden ones skipped; a
    folder reached twice through links is read once)."""
    seen = set() if seen is None else seen
    seen.add(folder.resolve())
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if (entry / CURATED_TRANSCRIPTS).is_file():
                yield entry, "curated"
            elif entry.resolve() not in seen:
                yield from _entries(entry, seen)
        elif entry.is_file() and entry.suffix.lower() in AUDIO_SUFFIXES:
            yield entry, "audiobook"


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

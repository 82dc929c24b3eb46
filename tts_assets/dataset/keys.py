"""Voice and book keys that never merge two inputs into one folder.

A key is a slug of the name (`layout.slugify`), so different names can share one: `My Book.flac`
and `my_book.flac`, `Disc 1/Track 01.mp3` and `Disc 2/Track 01.mp3`, voices `A B` and `a/b`.
A second book with a taken key would overwrite the first one's source record and clips; a
second voice would mix two speakers. So a voice key remembers the name it was first given and
refuses another, and a book key is unique per source: a source keeps the key it was first given
(stable across runs), and a new source whose key is taken gets a longer readable one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.errors import KeyCollisionError
from tts_assets.layout import DataLayout, slugify

log = logging.getLogger(__name__)


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def claim_voice(layout: DataLayout, name: str) -> str:
    """The voice's key; refused when a voice of another name already has it."""
    key = slugify(name)
    record = layout.voice_record(key)
    if record.is_file():
        first = json.loads(record.read_text())["name"]
        if name != key and not _same_name(name, first):
            raise KeyCollisionError(
                f"voice {name!r} has the key {key!r} of voice {first!r}; name it {first!r} (or {key!r}) "
                f"to add to that voice, or choose a name that gives another key"
            )
    else:
        write_text_atomic(record, json.dumps({"name": name}, ensure_ascii=False) + "\n")
    return key


def registered_sources(layout: DataLayout, voice: str) -> dict[str, str]:
    """Book key → the resolved path of its source, for every registered book of the voice."""
    sources = {}
    for book in layout.books(voice):
        try:
            sources[book] = json.loads(layout.source_record(voice, book).read_text())["path"]
        except (OSError, ValueError, KeyError):  # a record being written or damaged holds no key
            continue
    return sources


def book_name(path: Path, relative_to: Path | None = None) -> str:
    """What a book key is made from: the file's name without its suffix (the folder's for curated
    clips), with the folders below `relative_to` in front (`Disc 1/Track 01`)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix and not path.is_dir() else path
    return stem.relative_to(relative_to).as_posix() if relative_to else stem.name


def assign_book_key(layout: DataLayout, voice: str, path: Path, name: str | None = None,
                    owners: dict[str, str] | None = None) -> str:
    """The key of the book whose source is `path`.

    A source already registered keeps its key. Otherwise the slug of `name` (default: the file's
    name), unless another source has it; then the parent folder's name is put in front, and
    failing that a short hash of the path is put behind: both stay the same for the same file.
    `owners` (key → resolved source path) defaults to the registered books; a caller handing out
    several keys before registering them adds its own.
    """
    resolved = str(Path(path).resolve())
    owners = registered_sources(layout, voice) if owners is None else owners
    for key, owner in owners.items():
        if owner == resolved:
            return key
    first = slugify(name or book_name(path))
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:8]
    candidates = [first, slugify(f"{Path(resolved).parent.name}_{first}"), slugify(f"{first}-{digest}")]
    for key in candidates:
        if owners.get(key, resolved) == resolved:
            if key != first:
                log.warning("voice %s: book key %r belongs to %s; %s is book %r", voice, first,
                            owners[first], resolved, key)
            return key
    raise KeyCollisionError(f"{resolved}: no free book key for voice {voice!r} (tried {', '.join(candidates)})")

"""Registering inputs and reading the user's text files (segments and curated transcripts).

A book is registered once with a source record (`work/<voice>/<book>/source.json`) that says
where its audio lives and which per-book options it was given, so any later run — from the
command line, the sensor or the UI — rebuilds it the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.errors import InputFileError
from tts_assets.layout import DataLayout, slugify
from tts_assets.manifest.schema import Reason, Rejection
from tts_assets.segments.model import Segment


@dataclass(frozen=True)
class BookSource:
    kind: str  # "audiobook" or "curated"
    path: str  # the audio file, or the folder of curated clips
    segments_jsonl: str | None = None  # audiobook: skip ASR and use these segments
    transcripts_jsonl: str | None = None  # curated: audio_file + text per line
    asr_model: str | None = None
    language: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def book_key(path: Path) -> str:
    """A book's partition key: its file (or folder) name without the audio suffix."""
    path = Path(path)
    return slugify(path.stem if path.is_file() or path.suffix else path.name)


def register_book(layout: DataLayout, voice: str, source: BookSource, book: str | None = None) -> str:
    """Write the source record; returns the book key."""
    book = book or book_key(Path(source.path))
    record = {k: (str(Path(v).resolve()) if k.endswith(("path", "jsonl")) and v else v)
              for k, v in source.to_dict().items()}
    # A model folder given relative to this process's folder must still be found by a run started
    # elsewhere; a model name ("tiny") is not a path and stays as given.
    if source.asr_model and Path(source.asr_model).expanduser().is_dir():
        record["asr_model"] = str(Path(source.asr_model).expanduser().resolve())
    write_text_atomic(layout.source_record(voice, book), json.dumps(record, indent=2) + "\n")
    return book


def read_source(layout: DataLayout, voice: str, book: str) -> BookSource:
    record = layout.source_record(voice, book)
    if not record.is_file():
        raise InputFileError(record, f"book {book!r} of voice {voice!r} was never registered")
    return BookSource(**json.loads(record.read_text()))


def _parse_lines(path: Path) -> list[tuple[int, dict | None, str]]:
    """(line number, object or None, error) for each non-blank line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read: {exc}") from exc
    parsed = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append((number, None, f"not JSON: {exc.msg}"))
            continue
        if not isinstance(obj, dict):
            parsed.append((number, None, "not a JSON object"))
            continue
        parsed.append((number, obj, ""))
    return parsed


def read_segments_jsonl(
    path: Path, source: str, book: str
) -> tuple[list[Segment], list[Rejection]]:
    """Pre-existing segments (`start`, `end`, `text`, optional `words`), one JSON object a line."""
    segments, rejections = [], []
    for number, obj, error in _parse_lines(path):
        seg_id = f"{book}:L{number:06d}"
        if obj is not None:
            try:
                segment = Segment.from_dict({**obj, "id": seg_id})
                if not 0 <= segment.start < segment.end:
                    raise ValueError(f"start {segment.start} / end {segment.end} out of order")
                segments.append(segment)
                continue
            except (KeyError, TypeError, ValueError) as exc:
                error = f"bad field: {exc}"
        rejections.append(
            Rejection(source, None, None, (obj or {}).get("text"), Reason.MALFORMED_LINE,
                      f"{path}:{number}: {error}", book, number, [seg_id])
        )
    return segments, rejections


@dataclass(frozen=True)
class CuratedLine:
    line: int
    audio: Path
    text: str
    segment_id: str


def read_curated_transcripts(
    clips_dir: Path, transcripts: Path, book: str
) -> tuple[list[CuratedLine], list[Rejection]]:
    """Curated clips: each line names a file relative to `clips_dir` and its text.

    A line that is malformed, has no text, names a missing file or points outside the folder
    (`../`, an absolute path, a symlink that escapes) is rejected with its line number.
    """
    clips_dir = Path(clips_dir)
    if not clips_dir.is_dir():
        raise InputFileError(clips_dir, "not a folder of audio clips")
    root = clips_dir.resolve()
    accepted, rejections = [], []

    def reject(number, obj, reason, detail, audio_file=None):
        rejections.append(
            Rejection(str(audio_file or transcripts), None, None, (obj or {}).get("text"), reason,
                      f"{transcripts}:{number}: {detail}", book, number, [f"{book}:L{number:06d}"])
        )

    for number, obj, error in _parse_lines(transcripts):
        if obj is None:
            reject(number, obj, Reason.MALFORMED_LINE, error)
            continue
        name, text = obj.get("audio_file"), obj.get("text")
        if not isinstance(name, str) or not name or not isinstance(text, (str, type(None))):
            reject(number, obj, Reason.MALFORMED_LINE, "needs string fields audio_file and text")
            continue
        candidate = clips_dir / name
        try:
            outside = os.path.isabs(name) or not candidate.resolve().is_relative_to(root)
            exists = candidate.is_file()
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
            reject(number, obj, Reason.MALFORMED_LINE, f"{name!r} is not a usable file name: {exc}")
            continue
        if outside:
            reject(number, obj, Reason.PATH_OUTSIDE_INPUT, f"{name!r} is outside {clips_dir}", name)
            continue
        if not exists:
            reject(number, obj, Reason.MISSING_FILE, f"{name!r} does not exist", candidate)
            continue
        if not (text or "").strip():
            reject(number, obj, Reason.EMPTY_TEXT, "text is empty", candidate)
            continue
        accepted.append(CuratedLine(number, candidate, text.strip(), f"{book}:L{number:06d}"))
    return accepted, rejections

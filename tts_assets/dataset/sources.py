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
from tts_assets.errors import InputFileError, KeyCollisionError
from tts_assets.dataset.keys import assign_book_key, registered_sources
from tts_assets.layout import DataLayout
from tts_assets.manifest.schema import Reason, Rejection
from tts_assets.settings import MergeRules
from tts_assets.segments.model import Segment, join_words


@dataclass(frozen=True)
class BookSource:
    kind: str  # "audiobook" or "curated"
    path: str  # the audio file, or the folder of curated clips
    segments_jsonl: str | None = None  # audiobook: skip ASR and use these segments
    transcripts_jsonl: str | None = None  # curated: audio_file + text per line
    asr_model: str | None = None
    language: str | None = None
    verify_asr_model: str | None = None  # a second model that must hear what the ASR transcribed
    book_text: str | None = None  # audiobook: the book's own text (.txt/.md/.epub), the clips' text

    def to_dict(self) -> dict:
        return asdict(self)


def register_book(layout: DataLayout, voice: str, source: BookSource, book: str | None = None) -> str:
    """Write the source record; returns the book key (`keys.assign_book_key` unless `book` is
    given). A `book` whose key another source holds is refused: it would take over its clips."""
    registered = registered_sources(layout, voice)
    book = book or assign_book_key(layout, voice, Path(source.path), owners=registered)
    record = {k: (str(Path(v).resolve()) if k.endswith(("path", "jsonl", "book_text")) and v else v)
              for k, v in source.to_dict().items()}
    holder = registered.get(book)
    if holder and holder != record["path"]:
        raise KeyCollisionError(f"{record['path']}: book key {book!r} of voice {voice!r} belongs to {holder}")
    # A model folder given relative to this process's folder must still be found by a run started
    # elsewhere; a model name ("tiny") is not a path and stays as given.
    for model in ("asr_model", "verify_asr_model"):
        if record[model] and Path(record[model]).expanduser().is_dir():
            record[model] = str(Path(record[model]).expanduser().resolve())
    write_text_atomic(layout.source_record(voice, book), json.dumps(record, indent=2) + "\n")
    return book


def read_source(layout: DataLayout, voice: str, book: str) -> BookSource:
    record = layout.source_record(voice, book)
    if not record.is_file():
        raise InputFileError(record, f"book {book!r} of voice {voice!r} was never registered")
    return BookSource(**json.loads(record.read_text()))


def _parse_lines(path: Path) -> list[tuple[int, dict | None, str]]:
    """(line number, object or None, error) for each non-blank line.

    Lines end at b"\\n" only and each is decoded alone: a bad byte or a lone surrogate rejects its
    own line, and a raw U+2028 or U+0085 inside a string (json.dumps(ensure_ascii=False) writes
    them) neither splits a line nor shifts the numbers of those after it.
    """
    try:
        with open(path, "rb") as handle:
            parsed = [_parse_line(number, raw) for number, raw in enumerate(handle, start=1)]
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc}") from exc
    return [line for line in parsed if line is not None]


def _parse_line(number: int, raw: bytes) -> tuple[int, dict | None, str] | None:
    """One line as `_parse_lines` gives it; None when blank (JSON whitespace only)."""
    raw = raw.removesuffix(b"\n").removesuffix(b"\r")  # CRLF files
    try:
        line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a BOM may open the file
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        return number, None, f"not UTF-8: byte 0x{byte:02x} at byte {exc.start + 1} ({exc.reason})"
    if not line.strip(" \t\r"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return number, None, f"not JSON: {exc.msg} (column {exc.colno})"
    except ValueError as exc:  # an integer with more digits than Python converts
        return number, None, f"not JSON: {exc}"
    except RecursionError:
        return number, None, "not JSON: nested too deeply"
    if not isinstance(obj, dict):
        return number, None, "not a JSON object"
    # json.loads lets "\ud800" through, and the stage could not write such a string as UTF-8.
    if (surrogate := _lone_surrogate(obj)) is not None:
        return number, None, f"not valid Unicode: a string holds the lone surrogate {surrogate!r}"
    return number, obj, ""


def _lone_surrogate(value) -> str | None:
    """The first lone surrogate in the keys and strings of a parsed JSON value, if any."""
    stack = [value]  # a loop: json.loads takes nesting as deep as the recursion limit allows
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return item[exc.start]
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


# Text that no one could speak in its segment's time is refused when read: alignment costs
# memory in proportion to the text (a 10 MB text for a 3 s clip grew it to 10.5 GB). Fast speech
# runs at 15-20 characters a second; twice that only refuses texts that cannot belong to their
# audio, and the aligned dataset judges the rest against quality.max_chars_per_s. The allowance
# spares very short segments, whose times may be off by a fraction of a second.
MAX_CHARS_PER_S = 40.0
SHORT_SEGMENT_ALLOWANCE_CHARS = 20


def speakable_in(text: str, seconds: float) -> bool:
    """Whether `text` could be spoken in `seconds` (MAX_CHARS_PER_S, plus the allowance)."""
    return len(text) <= MAX_CHARS_PER_S * max(seconds, 0.0) + SHORT_SEGMENT_ALLOWANCE_CHARS


def read_segments_jsonl(
    path: Path, source: str, book: str
) -> tuple[list[Segment], list[Rejection]]:
    """Pre-existing segments (`start`, `end`, `text`, optional `words`), one JSON object a line."""
    segments, rejections = [], []
    for number, obj, error in _parse_lines(path):
        seg_id = f"{book}:L{number:06d}"
        reason, start, end = Reason.MALFORMED_LINE, None, None
        if obj is not None:
            try:
                segment = Segment.from_dict({**obj, "id": seg_id})
                if not 0 <= segment.start < segment.end:
                    raise ValueError(f"start {segment.start} / end {segment.end} out of order")
            except (KeyError, TypeError, ValueError) as exc:
                error = f"bad field: {exc}"
            else:
                # A segment with word times becomes a clip of its words' text (segments.merge).
                spoken = max(segment.text, join_words(segment.words), key=len)
                if speakable_in(spoken, segment.duration):
                    segments.append(segment)
                    continue
                reason, start, end = Reason.LENGTH_MISMATCH, segment.start, segment.end
                error = f"{len(spoken):,} characters in {segment.duration:.1f} s"
        rejections.append(
            Rejection(source, start, end, (obj or {}).get("text"), reason,
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
    clips_dir: Path, transcripts: Path, book: str, max_clip_s: float = MergeRules().max_clip_s,
    follow_outside_links: bool = False,
) -> tuple[list[CuratedLine], list[Rejection]]:
    """Curated clips: each line names a file relative to `clips_dir` and its text.

    A line that is malformed, has no text, names a missing file, points outside the folder
    (`../`, an absolute path, or a symlink that escapes unless `follow_outside_links`), has more
    text than twice the longest clip could hold, or names the clip of an earlier accepted line is
    rejected with its line number.
    """
    clips_dir = Path(clips_dir)
    if not clips_dir.is_dir():
        raise InputFileError(clips_dir, "not a folder of audio clips")
    root = clips_dir.resolve()
    accepted, rejections = [], []
    claimed: dict[Path, int] = {}  # resolved clip -> the line that took it

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
            resolved = candidate.resolve()
            climbs = os.path.normpath(name).split(os.sep)[0] == ".."
            outside = os.path.isabs(name) or climbs or (
                not follow_outside_links and not resolved.is_relative_to(root))
            exists = candidate.is_file()
        # a NUL byte, a name too long for the file system, a symlink loop (RuntimeError before 3.13)
        except (OSError, RuntimeError, ValueError) as exc:
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
        text = text.strip()
        # The clip's duration is not known yet: refuse only what not even a clip twice the longest
        # allowed could hold, so a huge text stops here and the clip's own duration judges the rest.
        if not speakable_in(text, 2 * max_clip_s):
            reject(number, obj, Reason.LENGTH_MISMATCH,
                   f"{len(text):,} characters, more than a {2 * max_clip_s:g} s clip could hold", candidate)
            continue
        if resolved in claimed:
            reject(number, obj, Reason.DUPLICATE_AUDIO,
                   f"line {number} names the clip of line {claimed[resolved]}", candidate)
            continue
        claimed[resolved] = number
        accepted.append(CuratedLine(number, candidate, text, f"{book}:L{number:06d}"))
    return accepted, rejections

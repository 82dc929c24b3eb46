"""Assemble a voice's dataset from all of its books: manifests, rejections and a summary."""

from __future__ import annotations

import json
import logging
from collections import Counter

from tts_assets.atomic import write_text_atomic
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, write_jsonl, write_parquet
from tts_assets.manifest.schema import MANIFEST_SCHEMA, Reason, Rejection

log = logging.getLogger(__name__)


def assemble_voice_dataset(layout: DataLayout, voice: str) -> dict:
    """Write `train_manifest.jsonl`, `manifest.parquet`, `rejections.jsonl` and `summary.json`.

    A book whose audio could not be used contributes one `unreadable_audio` rejection; a book
    still being built is left out and listed as pending.
    """
    clips, rejections, pending = [], [], []
    segments_total, seconds_in = 0, 0.0
    books: dict[str, dict] = {}  # per book: its source and clips, to compare with the last build
    why_not: dict[str, str] = {}  # why a book gives no clips now
    speaker_warnings: dict[str, str] = {}
    for book in layout.books(voice):
        failure = layout.book_failure(voice, book)
        summary_path = layout.book_summary(voice, book)
        source = json.loads(layout.source_record(voice, book).read_text())["path"]
        if failure.is_file():
            info = json.loads(failure.read_text())
            rejections.append(
                Rejection(info["source"], None, None, None, Reason.UNREADABLE_AUDIO, info["error"],
                          book, segment_ids=[f"{book}:source"]).to_dict()
            )
            segments_total += 1
            why_not[book] = f"its audio cannot be used: {info['error']}"
            books[book] = {"source": source, "clips": 0}
        elif summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            segments_total += summary["segments_total"]
            seconds_in += summary["seconds_in"]
            book_clips = list(read_jsonl(layout.book_clips_manifest(voice, book)))
            clips += book_clips
            rejections += read_jsonl(layout.book_rejections(voice, book))
            books[book] = {"source": summary["source"], "clips": len(book_clips)}
            if summary.get("speaker_warning"):  # mostly another voice (dataset/purity.py)
                speaker_warnings[book] = summary["speaker_warning"]
        else:
            pending.append(book)
            why_not[book] = "it is being built"
    if pending:
        log.warning("voice %s: books not built yet, left out: %s", voice, ", ".join(pending))

    shrunk = _shrunk_books(layout, voice, books, why_not)
    write_jsonl(layout.train_manifest(voice), clips)
    write_parquet(layout.manifest_parquet(voice), clips, MANIFEST_SCHEMA)
    write_jsonl(layout.rejections(voice), rejections)
    accepted = {i for clip in clips for i in clip["segment_ids"]}
    rejected = {i for row in rejections for i in row["segment_ids"]}  # a row may carry several
    seconds_out = sum(c["duration"] for c in clips)
    summary = {
        "voice": voice,
        "books": len(layout.books(voice)) - len(pending),
        "books_pending": pending,
        "clips": len(clips),
        "segments_total": segments_total,
        "segments_accepted": len(accepted),
        "segments_rejected": len(rejected),
        "hours_in": round(seconds_in / 3600, 4),
        "hours_out": round(seconds_out / 3600, 4),
        "yield": round(seconds_out / seconds_in, 4) if seconds_in else 0.0,
        "rejections_by_reason": dict(Counter(r["reason"] for r in rejections).most_common()),
        "per_book": books,
        "shrunk": shrunk,
        "speaker_warnings": speaker_warnings,
    }
    write_text_atomic(layout.dataset_summary(voice), json.dumps(summary, indent=2) + "\n")
    return summary


def _shrunk_books(layout: DataLayout, voice: str, books: dict[str, dict], why_not: dict[str, str]) -> list[dict]:
    """The books with fewer clips than in the last build, each with why: the dataset never shrinks
    without a reason recorded (in the summary and the log)."""
    previous_path = layout.dataset_summary(voice)
    previous = json.loads(previous_path.read_text()).get("per_book", {}) if previous_path.is_file() else {}
    shrunk = []
    for book, before in previous.items():
        now = books.get(book, {"source": before["source"], "clips": 0})
        if now["clips"] >= before["clips"]:
            continue
        if book in why_not:
            why = why_not[book]
        elif book not in books:
            why = f"it is no longer registered ({layout.source_record(voice, book)} is gone)"
        elif now["source"] != before["source"]:
            why = f"its source changed from {before['source']} to {now['source']}"
        else:
            why = "rebuilt: see its rejections"
        shrunk.append({"book": book, "clips_before": before["clips"], "clips_now": now["clips"], "why": why})
        log.warning("voice %s: book %s has %d clips, %d before: %s", voice, book, now["clips"], before["clips"], why)
    return shrunk


def check_accounting(layout: DataLayout, voice: str) -> tuple[bool, str]:
    """Every segment is in exactly one of the manifest and the rejections, and nothing is missing."""
    summary = json.loads(layout.dataset_summary(voice).read_text())
    accepted = [i for row in read_jsonl(layout.train_manifest(voice)) for i in row["segment_ids"]]
    rejected = [i for row in read_jsonl(layout.rejections(voice)) for i in row["segment_ids"]]
    accepted_set, rejected_set = set(accepted), set(rejected)
    both = accepted_set & rejected_set
    rejected_twice = len(rejected) - len(rejected_set)
    counted = len(accepted_set) + len(rejected_set)
    ok = not both and not rejected_twice and counted == summary["segments_total"]
    detail = (
        f"{len(accepted_set)} accepted + {len(rejected_set)} rejected = {counted} "
        f"of {summary['segments_total']} segments"
    )
    if both:
        detail += f"; {len(both)} in both files (e.g. {sorted(both)[:3]})"
    if rejected_twice:
        detail += f"; {rejected_twice} rejected twice"
    return ok, detail

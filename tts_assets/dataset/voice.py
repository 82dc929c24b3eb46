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
    for book in layout.books(voice):
        failure = layout.book_failure(voice, book)
        summary_path = layout.book_summary(voice, book)
        if failure.is_file():
            info = json.loads(failure.read_text())
            rejections.append(
                Rejection(info["source"], None, None, None, Reason.UNREADABLE_AUDIO, info["error"],
                          book, segment_ids=[f"{book}:source"]).to_dict()
            )
            segments_total += 1
        elif summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            segments_total += summary["segments_total"]
            seconds_in += summary["seconds_in"]
            clips += read_jsonl(layout.book_clips_manifest(voice, book))
            rejections += read_jsonl(layout.book_rejections(voice, book))
        else:
            pending.append(book)
    if pending:
        log.warning("voice %s: books not built yet, left out: %s", voice, ", ".join(pending))

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
    }
    write_text_atomic(layout.dataset_summary(voice), json.dumps(summary, indent=2) + "\n")
    return summary


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

"""Checks of the aligned dataset's contract, as (passed, description)."""

from __future__ import annotations

from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.settings import DatasetSettings
from tts_assets.text.normalize import spoken_words


def accounting(layout: DataLayout, voice: str) -> tuple[bool, str]:
    clips_in = [r["audio_file"] for r in read_jsonl(layout.train_manifest(voice))]
    kept = [r["source_clip"] for r in read_jsonl(layout.aligned_manifest(voice))]
    rejected = [r["audio_file"] for r in read_jsonl(layout.aligned_rejections(voice))]
    both = set(kept) & set(rejected)
    missing = set(clips_in) - set(kept) - set(rejected)
    passed = not both and not missing and len(kept) + len(rejected) == len(clips_in)
    detail = f"{len(kept)} kept + {len(rejected)} rejected = {len(kept) + len(rejected)} of {len(clips_in)} clips"
    if both:
        detail += f"; {len(both)} both kept and rejected"
    if missing:
        detail += f"; {len(missing)} missing (e.g. {sorted(missing)[:3]})"
    return passed, detail


def words_cover_text(layout: DataLayout, voice: str) -> tuple[bool, str]:
    problems = []
    rows = list(read_jsonl(layout.aligned_manifest(voice)))
    for row in rows:
        words = row["words"]
        if [w["word"] for w in words] != spoken_words(row["text"]):
            problems.append(f"{row['audio_file']}: words differ from the text")
        elif words[0]["start"] < 0 or words[-1]["end"] > row["duration"] + 1e-3:
            problems.append(f"{row['audio_file']}: words outside the clip")
        elif any(a["end"] > b["start"] + 1e-3 for a, b in zip(words, words[1:])):
            problems.append(f"{row['audio_file']}: words out of order")
    return not problems, f"{len(rows) - len(problems)} of {len(rows)} clips covered" + (
        f"; e.g. {problems[:3]}" if problems else "")


def durations_in_bounds(layout: DataLayout, voice: str, settings: DatasetSettings) -> tuple[bool, str]:
    rules = settings.merge
    upper = rules.max_clip_s + 2 * settings.align.pad_s
    rows = list(read_jsonl(layout.aligned_manifest(voice)))
    outside = [r["audio_file"] for r in rows if not rules.min_clip_s <= r["duration"] <= upper]
    return not outside, f"{len(rows) - len(outside)} of {len(rows)} clips within {rules.min_clip_s}–{upper:.2f} s" + (
        f"; e.g. {outside[:3]}" if outside else "")

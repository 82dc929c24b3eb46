"""Checks of the aligned dataset's contract, as (passed, description)."""

from __future__ import annotations

from collections import defaultdict

from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.settings import DatasetSettings
from tts_assets.text.normalize import spoken_words


def accounting(layout: DataLayout, voice: str) -> tuple[bool, str]:
    """Every clip in ends once, kept or rejected, or as each of its parts once (a long clip split
    at its pauses: parts 1..n, each kept or rejected)."""
    clips_in = [r["audio_file"] for r in read_jsonl(layout.train_manifest(voice))]
    outcomes: dict[str, list[tuple]] = defaultdict(list)
    for row in read_jsonl(layout.aligned_manifest(voice)):
        outcomes[row["source_clip"]].append(("kept", row.get("part"), row.get("parts")))
    for row in read_jsonl(layout.aligned_rejections(voice)):
        outcomes[row["audio_file"]].append(("rejected", row.get("part"), row.get("parts")))
    kept = sum(kind == "kept" for rows in outcomes.values() for kind, _, _ in rows)
    rejected = sum(len(rows) for rows in outcomes.values()) - kept
    missing = set(clips_in) - set(outcomes)
    unknown = set(outcomes) - set(clips_in)

    def whole(rows) -> bool:
        if len(rows) == 1 and rows[0][1] is None:
            return True
        counts = {n for _, _, n in rows}
        return (len(counts) == 1 and None not in counts
                and sorted(k for _, k, _ in rows) == list(range(1, counts.pop() + 1)))

    broken = sorted(clip for clip, rows in outcomes.items() if not whole(rows))
    passed = not missing and not unknown and not broken and len(clips_in) == len(set(clips_in))
    split = sum(rows[0][1] is not None for rows in outcomes.values())
    detail = (f"{kept} kept + {rejected} rejected rows for {len(outcomes)} of {len(clips_in)} clips"
              f" ({split} split into parts)")
    if broken:
        detail += f"; {len(broken)} kept or rejected more than once or missing parts (e.g. {broken[:3]})"
    if missing:
        detail += f"; {len(missing)} missing (e.g. {sorted(missing)[:3]})"
    if unknown:
        detail += f"; {len(unknown)} not in train_manifest.jsonl (e.g. {sorted(unknown)[:3]})"
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

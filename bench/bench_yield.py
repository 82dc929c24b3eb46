"""Benchmark: how much of the speech ends in the dataset (issue 17), before and after.

"before" is the previous clip rules (`merge.min_clip_s: 2.0`, no merging across pauses over
`max_gap_s` 0.5 s, curated clips over `max_clip_s` rejected); "after" is the defaults (merging a
short clip across pauses up to `max_short_merge_gap_s` 1.0 s, the 1.0 s floor, long curated clips
split at their aligned pauses). Run in-process through the library stages (probe, transcribe,
plan, cut, voice dataset, aligned dataset with pocketsphinx) on:
  truth  the sample audiobook (Piper, 0.6 s between sentences) with its known sentence spans as
         the segments (what a perfect ASR gives)
  asr    the same book transcribed by the packaged Whisper tiny.en (transcribed once, then planned
         under each rule set)
  curated  the five LibriVox clips back to back as one 24.7 s curated clip with its text
It reports clips and seconds kept after the book stage and after the aligned stage, and the
rejections by reason.

    .venv/bin/python -m bench.bench_yield [--minutes 2.7] [--skip-asr]   # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._common import RESULTS, environment, markdown_table, read_jsonl, sample_book, write_results

BEFORE = {"max_short_merge_gap_s": 0.5, "min_clip_s": 2.0, "max_curated_clip_s": 10.0}


def _settings(rules: dict):
    from tts_assets.settings import DatasetSettings

    settings = DatasetSettings()
    return settings.model_copy(update={"merge": settings.merge.model_copy(update=rules)})


def _long_curated_clip(folder: Path) -> tuple[Path, float]:
    """The transcripts file of the one long clip, and its seconds."""
    import numpy as np
    import soundfile as sf

    from bench.librivox import LIBRIVOX, LIBRIVOX_IDS, librivox_transcripts

    folder.mkdir(parents=True, exist_ok=True)
    audio = [sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{i}.wav", dtype="float32") for i in LIBRIVOX_IDS]
    joined = np.concatenate([a for a, _ in audio])
    sf.write(folder / "long.wav", joined, audio[0][1])
    texts = librivox_transcripts()
    transcripts = folder / "transcripts.jsonl"
    transcripts.write_text(json.dumps({"audio_file": "long.wav", "text": " ".join(texts[i] for i in LIBRIVOX_IDS)}) + "\n")
    return transcripts, len(joined) / audio[0][1]


def _build(layout, voice: str, book: str, settings, transcribed: bool) -> dict:
    """Plan, cut, assemble and align one book under `settings`; the clips and seconds kept."""
    from tts_assets.dataset import book as stages
    from tts_assets.dataset.aligned import align_voice_dataset
    from tts_assets.dataset.voice import assemble_voice_dataset

    if not transcribed:
        stages.transcribe_book(layout, voice, book, settings)
    started = time.perf_counter()
    stages.plan_book(layout, voice, book, settings)
    summary = stages.cut_book(layout, voice, book, settings.clips, settings.merge)
    assemble_voice_dataset(layout, voice)
    aligned = align_voice_dataset(layout, voice, settings)
    rejected = Counter(r["reason"] for r in read_jsonl(layout.book_rejections(voice, book)))
    return {
        "clips": summary["clips"],
        "seconds": summary["seconds_out"],
        "book_rejections": dict(rejected.most_common()),
        "aligned_clips": aligned["clips_kept"],
        "aligned_seconds": round(aligned["hours_kept"] * 3600, 2),
        "aligned_rejections": aligned["rejections_by_reason"],
        "stage_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.7, help="sample book length (2.7: the sample itself)")
    parser.add_argument("--skip-asr", action="store_true", help="only the known sentence spans")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"))
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_yield.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tts_assets.asr.whisper import packaged_model
    from tts_assets.dataset import book as stages
    from tts_assets.dataset.sources import BookSource, register_book
    from tts_assets.layout import DataLayout

    book = sample_book(args.work, args.minutes)
    truth = read_jsonl(book.truth)
    speech = sum(r["end"] - r["start"] for r in truth)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        segments = tmp / "truth_segments.jsonl"
        segments.write_text("".join(json.dumps({k: r[k] for k in ("start", "end", "text")}) + "\n" for r in truth))
        inputs = [("truth", BookSource("audiobook", str(book.audio), str(segments)), speech)]
        if not args.skip_asr:
            inputs.append(("asr", BookSource("audiobook", str(book.audio), asr_model=packaged_model(), language="en"),
                           speech))
        transcripts, seconds = _long_curated_clip(tmp / "curated")
        inputs.append(("curated", BookSource("curated", str(transcripts.parent), transcripts_jsonl=str(transcripts)),
                       seconds))
        for name, source, seconds_in in inputs:
            layout = DataLayout(tmp / name)
            key = register_book(layout, "bench", source)
            stages.probe_book(layout, "bench", key)
            if source.kind == "audiobook":  # transcribed once (the ASR's segments), planned under each rule set
                stages.transcribe_book(layout, "bench", key, _settings({}))
            for label, rules in (("before", BEFORE), ("after", {})):
                print(f"{name} / {label} ...", flush=True)
                row = _build(layout, "bench", key, _settings(rules), transcribed=source.kind == "audiobook")
                results.append({"input": name, "rules": label, "speech_seconds": round(seconds_in, 2), **row})
                print(json.dumps(results[-1]), flush=True)
    table = markdown_table(
        ["input", "rules", "audio s", "clips", "s kept", "aligned clips", "aligned s", "aligned ÷ audio", "rejections (book; aligned)"],
        [[r["input"], r["rules"], r["speech_seconds"], r["clips"], r["seconds"], r["aligned_clips"], r["aligned_seconds"],
          f"{r['aligned_seconds'] / r['speech_seconds']:.0%}",
          f"{r['book_rejections'] or '-'}; {r['aligned_rejections'] or '-'}"] for r in results])
    print("\n" + table)
    write_results(args.out, {"environment": environment(), "book_minutes": round(book.duration / 60, 2),
                             "before_rules": BEFORE, "results": results})


if __name__ == "__main__":
    main()

"""Benchmark: locating the transcript in the book's own text, as a share of the ingest.

Makes (or reuses, cached in --work) a sample audiobook of at least --minutes (default 10) and its
book text: a Project Gutenberg-style header and table of contents, a heading per chapter (not
read aloud), then the sentences the audio reads. Runs the per-book stages in this process with the
packaged Whisper tiny.en (probe, transcribe, locate, plan, cut) and reports each stage's seconds,
the locate stage's share of them, the coverage and how many clips the book's text corrected.
Then, for linearity, times the locator alone over the same transcript and text repeated
--scale times (segments in order through a book that many times longer).

    .venv/bin/python -m bench.bench_book_text --minutes 10   # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench._common import RESULTS, environment, markdown_table, read_jsonl, sample_book, write_results

FRONT_MATTER = ("The Project Gutenberg eBook of Sample Audiobook\n\nThis ebook is for the use of anyone "
                "anywhere at no cost and with almost no restrictions whatsoever.\n\nContents\n\n")


def write_book_text(truth: Path, target: Path) -> None:
    rows = read_jsonl(truth)
    chapters = sorted({r["chapter"] for r in rows})
    parts = [FRONT_MATTER + "\n".join(f"Chapter {c}" for c in chapters) + "\n\n"]
    for chapter in chapters:
        parts.append(f"Chapter {chapter}\n\n" + " ".join(r["text"] for r in rows if r["chapter"] == chapter) + "\n\n")
    target.write_text("".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scale", type=int, default=8, help="how many times longer the locator-only run is")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tts_assets_bench_book_text")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_book_text.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)

    from tts_assets.asr.whisper import packaged_model
    from tts_assets.dataset import book as book_stages
    from tts_assets.dataset.sources import BookSource, register_book
    from tts_assets.layout import DataLayout
    from tts_assets.segments.model import Segment
    from tts_assets.settings import DatasetSettings
    from tts_assets.text.book_text import matching_words, read_book_text, words_of
    from tts_assets.text.locate import locate_segments

    book = sample_book(args.work, args.minutes)
    text_path = args.work / f"{book.audio.stem}.txt"
    write_book_text(book.truth, text_path)
    settings = DatasetSettings()
    settings = settings.model_copy(update={"asr": settings.asr.with_overrides(model=packaged_model(), language="en")})
    with tempfile.TemporaryDirectory() as root:
        layout = DataLayout(Path(root))
        key = register_book(layout, "bench", BookSource("audiobook", str(book.audio), book_text=str(text_path)))
        stages = {
            "probe": lambda: book_stages.probe_book(layout, "bench", key, settings),
            "transcribe": lambda: book_stages.transcribe_book(layout, "bench", key, settings),
            "locate": lambda: book_stages.locate_book(layout, "bench", key, settings.book_text),
            "plan": lambda: book_stages.plan_book(layout, "bench", key, settings),
            "cut": lambda: book_stages.cut_book(layout, "bench", key, settings.clips, settings.merge),
        }
        seconds, results = {}, {}
        for name, stage in stages.items():
            started = time.perf_counter()
            results[name] = stage()
            seconds[name] = round(time.perf_counter() - started, 3)
            print(f"{name}: {seconds[name]:.2f} s", flush=True)
        segments = [Segment.from_dict(r) for r in read_jsonl(layout.transcript_file("bench", key))]
        corrected = [{"book": c["text"], "asr": c["text_asr"]}
                     for c in read_jsonl(layout.book_clips_manifest("bench", key))
                     if c["text_source"] == "book" and matching_words(c["text"]) != matching_words(c["text_asr"])]

    # Linearity: the transcript read `scale` times through a text `scale` times as long.
    text = read_book_text(text_path)
    heard = [[w.word for w in s.words] for s in segments]
    scaling = {}
    for times in (1, args.scale):
        longer = words_of("\n\n".join([text.text] * times))
        started = time.perf_counter()
        found = sum(loc.verdict == "book" for loc in locate_segments(longer, heard * times, settings.book_text))
        scaling[times] = {"words": len(longer.forms), "segments": len(heard) * times, "found": found,
                          "seconds": round(time.perf_counter() - started, 3)}
        print(f"locator alone, x{times}: {scaling[times]}", flush=True)

    report, summary = results["locate"], results["cut"]
    total = sum(seconds.values())
    data = {
        "environment": environment(),
        "book_minutes": round(book.duration / 60, 2),
        "book_words": report["words"],
        "stage_seconds": seconds,
        "locate_share_of_ingest": round(seconds["locate"] / total, 4),
        "locate_vs_transcribe": round(seconds["locate"] / seconds["transcribe"], 4),
        "coverage": report["coverage"],
        "segments": report["segments"],
        "segments_corrected": report["segments_corrected"],
        "clips": summary["clips"],
        "clips_by_text_source": summary["clips_by_text_source"],
        "clips_corrected_by_book": summary["clips_corrected_by_book"],
        "corrected_examples": corrected[:12],
        "locator_scaling": scaling,
        "locator_time_ratio": round(scaling[args.scale]["seconds"] / max(scaling[1]["seconds"], 1e-9), 2),
    }
    print(markdown_table(
        ["book min", "transcribe s", "locate s", "locate share of ingest", "coverage", "clips", "corrected by book"],
        [[data["book_minutes"], seconds["transcribe"], seconds["locate"], data["locate_share_of_ingest"],
          report["coverage"], summary["clips"], summary["clips_corrected_by_book"]]]))
    print(json.dumps(scaling))
    write_results(args.out, data)


if __name__ == "__main__":
    main()

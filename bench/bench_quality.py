"""DNSMOS P.835 on CPU: what clean and degraded speech scores, what it costs, what it adds to a build.

- scores: OVRL/SIG/BAK of the sample book's sentences (Piper), the five LibriVox clips (a real
  reader, 64 kbps MP3 source) and degraded copies of both (bench/degrade.py): the data the
  `quality.min_dnsmos_ovrl` floor was chosen from.
- speed: x real time of our batched runner, of the same runner one window per session run, and of
  speechmos's own `dnsmos.run` (the plain-library baseline; it also runs its P.808 model) on the
  same clips.
- build: the aligned dataset of the sample book (pocketsphinx) with DNSMOS (the default floor) and
  without (`quality.min_dnsmos_ovrl: null`), in-process, after one warm-up build.
From the repository root: python -m bench.bench_quality [--parts scores,speed,build] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from bench._common import RESULTS, cpu_seconds, environment, read_jsonl, sample_book  # noqa: E402
from bench.degrade import degradations  # noqa: E402
from bench.librivox import LIBRIVOX, LIBRIVOX_IDS  # noqa: E402
from tts_assets.audio.decode import stream_pcm  # noqa: E402
from tts_assets.quality.dnsmos import BATCH_WINDOWS, RATE, Dnsmos, windows  # noqa: E402
from tts_assets.settings import DatasetSettings  # noqa: E402


def librivox_clips() -> list[np.ndarray]:
    return [sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{i}.wav", dtype="float32")[0]
            for i in LIBRIVOX_IDS]


def book_clips(work: Path) -> list[np.ndarray]:
    book = sample_book(work, 2.7)
    audio = np.concatenate(list(stream_pcm(book.audio, RATE)))
    return [audio[int(s["start"] * RATE): int(s["end"] * RATE)] for s in read_jsonl(book.truth)]


def _stats(scores) -> dict:
    ovrl = np.array([s.ovrl for s in scores])
    return {"clips": len(ovrl), "ovrl_min": round(float(ovrl.min()), 2), "ovrl_median": round(float(np.median(ovrl)), 2),
            "ovrl_max": round(float(ovrl.max()), 2), "sig_median": round(float(np.median([s.sig for s in scores])), 2),
            "bak_median": round(float(np.median([s.bak for s in scores])), 2)}


def scores(work: Path, book_degraded: int) -> dict:
    scorer = Dnsmos(max_windows=None)  # the reference's every window
    results = {}
    # The book's degraded copies: every fourth sentence, enough to see the spread, a quarter of the cost.
    for source, clips, degraded in [("LibriVox", librivox_clips(), None), ("sample book (Piper)", book_clips(work),
                                                                           book_degraded)]:
        results[f"{source}, clean"] = _stats(list(scorer.score(clips)))
        subset = clips[::max(1, len(clips) // degraded)] if degraded else clips
        copies: dict[str, list[np.ndarray]] = {}
        for clip in subset:
            for name, audio in degradations(clip, RATE).items():
                copies.setdefault(name, []).append(audio)
        for name, audios in copies.items():
            results[f"{source}, {name}"] = _stats(list(scorer.score(audios)))
            print(f"{source}, {name}: {results[f'{source}, {name}']}", flush=True)
    print("\n| clips | n | OVRL min | OVRL median | OVRL max | SIG median | BAK median |\n|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['clips']} | {r['ovrl_min']} | {r['ovrl_median']} | {r['ovrl_max']} | {r['sig_median']} "
              f"| {r['bak_median']} |")
    return results


def speed(work: Path) -> dict:
    from speechmos import dnsmos as speechmos_dnsmos

    clips = librivox_clips()
    audio_s = sum(len(c) for c in clips) / RATE
    results = {"audio_s": round(audio_s, 1), "windows_all": sum(len(windows(c)) for c in clips)}

    def timed(name, call):
        call(clips[:1])  # sessions loaded, caches warm
        started, cpu = time.perf_counter(), time.process_time()
        call(clips)
        wall = time.perf_counter() - started
        results[name] = {"wall_s": round(wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                         "x_real_time": round(audio_s / wall, 2)}
        print(name, results[name], flush=True)

    first, every, every_single = Dnsmos(), Dnsmos(max_windows=None), Dnsmos(batch_windows=1, max_windows=None)
    every16 = Dnsmos(batch_windows=16, max_windows=None)
    timed(f"ours, first window of each clip (default), {BATCH_WINDOWS} a session run", lambda c: list(first.score(c)))
    timed(f"ours, every window (reference), {BATCH_WINDOWS} a run", lambda c: list(every.score(c)))
    timed("ours, every window, 16 a run", lambda c: list(every16.score(c)))
    timed("ours, every window, one a run", lambda c: list(every_single.score(c)))
    timed("speechmos dnsmos.run, clip by clip (+ P.808)", lambda c: [speechmos_dnsmos.run(x, RATE) for x in c])
    # What rating the first window alone changes, on clips of every length the book has.
    book = book_clips(work)
    one, reference = list(first.score(clips + book)), list(every.score(clips + book))
    gap = [abs(a.ovrl - b.ovrl) for a, b in zip(one, reference)]
    results["first_vs_every_window_ovrl"] = {"clips": len(gap), "mean_abs": round(float(np.mean(gap)), 3),
                                             "max_abs": round(float(np.max(gap)), 3)}
    # Clean clips Emilia's floor (3.0) and ours would reject, by the reference's scores.
    floor = DatasetSettings().quality.min_dnsmos_ovrl
    for source, scored in [("LibriVox", reference[:len(clips)]), ("sample book", reference[len(clips):])]:
        results[f"{source} clean below"] = {"3.0": sum(s.ovrl < 3.0 for s in scored), str(floor): sum(
            s.ovrl < floor for s in scored), "of": len(scored)}
        print(source, "clean below:", results[f"{source} clean below"], flush=True)
    print("first window vs every window, OVRL:", results["first_vs_every_window_ovrl"], flush=True)
    return results


def build(work: Path, repeats: int) -> dict:
    import dagster as dg

    from tts_assets.dataset.aligned import align_voice_dataset
    from tts_assets.dataset.sources import BookSource, register_book
    from tts_assets.defs.launch import build_book_and_dataset
    from tts_assets.layout import DataLayout
    book = sample_book(work, 2.7)
    root = work / "bench_quality"
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    os.environ["TTS_ASSETS_DATA_ROOT"] = str(root / "data")
    os.environ.pop("TTS_ASSETS_SETTINGS", None)
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    segments = root / "segments.jsonl"
    segments.write_text("".join(json.dumps({k: s[k] for k in ("start", "end", "text")}) + "\n"
                                for s in read_jsonl(book.truth)))
    layout = DataLayout(root / "data")
    name = register_book(layout, "joe", BookSource("audiobook", str(book.audio), str(segments)))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "joe", name)
    with_dnsmos = DatasetSettings()
    without = DatasetSettings.model_validate({"quality": {"min_dnsmos_ovrl": None}})
    align_voice_dataset(layout, "joe", without)  # warm-up: aligner and model files in the page cache
    results = {}
    cache = layout.aligned_dnsmos_cache("joe")
    # A first build scores every clip; a rebuild (another book added) only the clips it has not seen.
    runs = [("without DNSMOS", without, False), ("with DNSMOS, first build", with_dnsmos, True),
            ("with DNSMOS, rebuild (cache)", with_dnsmos, False)]
    timings: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in runs}
    # Interleaved, so a busy spell of the machine falls on every kind alike; CPU seconds (all threads
    # of this process and of the finishing process it starts) are far steadier than wall seconds.
    for _ in range(repeats):
        for label, settings, cold in runs:
            if cold:
                cache.unlink(missing_ok=True)
            started, cpu = time.perf_counter(), cpu_seconds()
            summary = align_voice_dataset(layout, "joe", settings)
            timings[label].append((time.perf_counter() - started, cpu_seconds() - cpu))
            results[label] = {"wall_s": round(min(w for w, _ in timings[label]), 2),
                              "cpu_s": round(min(c for _, c in timings[label]), 2),
                              "clips_kept": summary["clips_kept"], "rejections": summary["rejections_by_reason"]}
    for label, _, _ in runs:
        print(label, results[label], flush=True)
    for label in ("with DNSMOS, first build", "with DNSMOS, rebuild (cache)"):
        results[f"ratio, {label}"] = {
            unit: round(results[label][unit] / results["without DNSMOS"][unit], 2) for unit in ("wall_s", "cpu_s")}
        print(f"{label} / without:", results[f"ratio, {label}"])
    results["audio_s"] = round(book.duration, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="scores,speed,build")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"))
    parser.add_argument("--book-degraded", type=int, default=7, help="sample-book sentences degraded")
    parser.add_argument("--repeats", type=int, default=3, help="builds timed each way (the fastest counts)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_quality.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    # Parts not run keep their results from an earlier run into the same file.
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["environment"] = environment()
    if "scores" in parts:
        results["scores"] = scores(args.work, args.book_degraded)
    if "speed" in parts:
        results["speed"] = speed(args.work)
    if "build" in parts:
        results["build"] = build(args.work, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

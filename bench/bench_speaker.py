"""Benchmark: speaker purity and sound screening on a ~6-minute book with another reader inside.

The book (bench/mixed_book.py): the Piper sample book's sentences (made once, or reused from
--work) with the five real LibriVox clips of another reader inserted, a music intro, a music bed
under one sentence and a noise passage. It is built twice through the book stages in this
process (probe, transcribe with the packaged Whisper tiny.en, plan, cut): with the screening
(`dataset.speaker.model: resemblyzer`, its measures taken beside the transcription) and without
(`none`, the baseline). Reported: each stage's seconds and the build's ratio with/without; the
screening's own cost (decode, batched GE2E embedding, Silero VAD, music detector) in x real
time, beside the plain per-segment path (`Ge2eEmbedder.embed` one segment at a time, as the
evaluation uses it); the peak memory the streamed pass allocates (tracemalloc); and what reaches
the clips: the other reader's and the music's seconds, the narrator's yield.

    .venv/bin/python -m bench.bench_speaker            # from the repository root
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bench._common import RESULTS, environment, markdown_table, read_jsonl, sample_book, write_results
from bench.mixed_book import RATE, make_mixed_book, overlap_seconds

VOICE = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.4, help="of the narrator's sentences")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tts_assets_bench_speaker")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_speaker.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)

    from tts_assets.asr.whisper import packaged_model
    from tts_assets.audio.decode import stream_pcm
    from tts_assets.dataset import book as stages
    from tts_assets.dataset.sources import BookSource, register_book
    from tts_assets.evaluate.speaker import load_embedder
    from tts_assets.layout import DataLayout
    from tts_assets.purity.measure import MeasureCost, measure_segments
    from tts_assets.segments.model import Segment
    from tts_assets.settings import DatasetSettings, SpeakerSettings

    source = sample_book(args.work, args.minutes)
    sentences = [s for s in read_jsonl(source.truth) if s["end"] <= args.minutes * 60]
    narrator = np.concatenate(list(stream_pcm(source.audio, RATE)))
    count = len(sentences)
    # The bed under a sentence of ordinary length (4-8 s) past the middle: a longer one is split.
    bed = next(i for i in range(count // 2, count) if 4 <= sentences[i]["end"] - sentences[i]["start"] <= 8)
    book = make_mixed_book(narrator, sentences, args.work / "mixed.flac", bed_sentence=bed,
                           guests_after=tuple(count * k // 6 for k in range(1, 6)), noise_after=count * 3 // 4,
                           guest_clips=("0870", "0880", "0890", "0920", "0930"))
    duration = book.truth[-1]["end"]
    print(f"mixed book: {duration / 60:.1f} min, {book.seconds('guest'):.1f} s of another reader", flush=True)
    del narrator

    base = DatasetSettings()
    base = base.model_copy(update={"asr": base.asr.with_overrides(model=packaged_model(), language="en")})
    builds, seconds = {}, {}
    with tempfile.TemporaryDirectory() as root:
        layouts = {name: DataLayout(Path(root) / name) for name in ("screened", "baseline")}
        keys = {name: register_book(layout, VOICE, BookSource("audiobook", str(book.audio)))
                for name, layout in layouts.items()}
        for name in ("screened", "baseline"):
            layout, key = layouts[name], keys[name]
            settings = base if name == "screened" else base.model_copy(update={"speaker": SpeakerSettings(model="none")})
            timed = {}
            started = time.perf_counter()
            stages.probe_book(layout, VOICE, key, settings)
            timed["probe"] = time.perf_counter() - started
            # Each build transcribes: the screened one measures its segments from the ASR's decode
            # as it goes, so its transcription carries the screening's cost.
            started = time.perf_counter()
            stages.transcribe_book(layout, VOICE, key, settings)
            timed["transcribe"] = time.perf_counter() - started
            for stage, run in (("plan", lambda: stages.plan_book(layout, VOICE, key, settings)),
                               ("cut", lambda: stages.cut_book(layout, VOICE, key, settings.clips, settings.merge))):
                started = time.perf_counter()
                builds.setdefault(name, {})[stage] = run()
                timed[stage] = time.perf_counter() - started
            seconds[name] = {k: round(v, 3) for k, v in timed.items()}
            print(f"{name}: {seconds[name]}", flush=True)
            clips = list(read_jsonl(layout.book_clips_manifest(VOICE, key)))
            builds[name]["kept"] = {kind: round(overlap_seconds(clips, book.truth, kind), 2)
                                    for kind in ("narrator", "guest", "music", "bed", "noise")}
        segments = [Segment.from_dict(r) for r in read_jsonl(layouts["screened"].transcript_file(VOICE, keys["screened"]))]

    # The screening alone, again, under tracemalloc: the peak the streamed pass allocates.
    embedder = load_embedder("resemblyzer")
    tracemalloc.start()
    cost = MeasureCost()
    started = time.perf_counter()
    measure_segments(book.audio, segments, embedder, cost)
    streamed_s = time.perf_counter() - started
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    # The plain path: each segment embedded alone (as the evaluation embeds a clip).
    audio = np.concatenate(list(stream_pcm(book.audio, RATE)))
    started = time.perf_counter()
    for s in segments:
        embedder.embed(audio[int(s.start * RATE):int(s.end * RATE)], RATE)
    one_by_one_s = time.perf_counter() - started

    screened, baseline = builds["screened"], builds["baseline"]
    total = {name: round(sum(seconds[name].values()), 3) for name in seconds}
    speech_s = sum(s.duration for s in segments)
    data = {
        "environment": environment(),
        "book_minutes": round(duration / 60, 2),
        "truth_seconds": {k: round(book.seconds(k), 2) for k in ("narrator", "guest", "music", "bed", "noise")},
        "segments": len(segments),
        "stage_seconds": seconds,
        "build_seconds": total,
        "build_ratio": round(total["screened"] / total["baseline"], 3),
        "screening": {
            "seconds": round(streamed_s, 3), "x_real_time": round(duration / streamed_s, 1),
            "embed_s": round(cost.embed_s, 3), "embed_x_real_time": round(speech_s / cost.embed_s, 1),
            "vad_s": round(cost.vad_s, 3), "music_s": round(cost.music_s, 3), "decode_s": round(cost.decode_s, 3),
            "peak_traced_mb": round(peak_mb, 1), "whole_book_16k_mb": round(duration * RATE * 4 / 2**20, 1),
        },
        "embed_one_by_one_s": round(one_by_one_s, 3),
        "embed_one_by_one_x_real_time": round(speech_s / one_by_one_s, 1),
        "report": {k: v for k, v in screened["plan"]["speaker"].items() if k not in ("histogram",)},
        "kept_seconds": {"screened": screened["kept"], "baseline": baseline["kept"]},
        "narrator_yield": {name: round(builds[name]["kept"]["narrator"] / book.seconds("narrator"), 4)
                           for name in builds},
        "clips": {name: builds[name]["cut"]["clips"] for name in builds},
    }
    print(markdown_table(
        ["build", "seconds", "clips", "narrator yield", "other reader s kept", "music+bed s kept"],
        [[name, total[name], data["clips"][name], data["narrator_yield"][name], builds[name]["kept"]["guest"],
          round(builds[name]["kept"]["music"] + builds[name]["kept"]["bed"], 2)] for name in ("baseline", "screened")]))
    print(markdown_table(
        ["pass", "seconds", "x real time"],
        [["screening (decode+embed+VAD+music, streamed)", data["screening"]["seconds"], data["screening"]["x_real_time"]],
         ["embedding, batched", data["screening"]["embed_s"], data["screening"]["embed_x_real_time"]],
         ["embedding, one segment at a time", data["embed_one_by_one_s"], data["embed_one_by_one_x_real_time"]]]))
    write_results(args.out, data)


if __name__ == "__main__":
    main()

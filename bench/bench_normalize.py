"""Normalization time (NeMo, with the readings the audio chooses among) against alignment time.

Two texts: the sample book's sentences (prose, few numbers) and a numbers-heavy set (dates, money,
measures, times, ordinals, addresses), each sentence spoken by Piper as it reads the written form.
For every sentence it times `spoken_readings` (NeMo's deterministic reading, plus the other readings
written out and read by it again when the sentence has digits, symbols or Roman numerals), aligning the first reading alone (what alignment cost
before), and aligning every reading (what the audio's choice costs), with pocketsphinx.
From the repository root: python -m bench.bench_normalize [--minutes 2.7] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench._common import RESULTS, read_jsonl, sample_book  # noqa: E402
from tts_assets.aligners.base import AlignmentError, clip_score  # noqa: E402
from tts_assets.audio.decode import stream_pcm  # noqa: E402
from tts_assets.text.normalize import spoken_readings, spoken_words, unspoken  # noqa: E402

NUMBERS_HEAVY = [
    "On July 25, 2012, the fund raised $2.5 million.",
    "It cost $5.50 at the shop on 123 Elm St.",
    "In 1865 the war ended, and 1,200 men came home.",
    "She came 111th of 2,000 runners.",
    "We left at 10:30 a.m. and walked 12 km.",
    "The box weighs 4 1/2 lbs, about 2 kg.",
    "Prices rose 45% in the 1980s.",
    "Chapter IV begins on page 37.",
    "Call me on the 3rd of May at 8:15.",
    "He paid £3.20 for 6 eggs and $0.99 for milk.",
    "The temperature fell to 5°C by 9 p.m.",
    "Flight 227 left Gate 14 at 6:45.",
    "Mr. Brown was born on 4 March 1901.",
    "It is 3.14 meters wide and 250 cm tall.",
    "Only 1 in 10 people owned a car in 1920.",
]


def measure(clips: list[tuple[np.ndarray, str]], aligner) -> dict:
    normalize_s = first_s = all_s = 0.0
    with_symbols = readings_total = changed = failed = 0
    for audio, text in clips:
        started = time.perf_counter()
        readings = [r for r in spoken_readings(text) if not unspoken(r) and spoken_words(r)]
        normalize_s += time.perf_counter() - started
        if not readings:
            failed += 1
            continue
        with_symbols += bool(unspoken(text))
        readings_total += len(readings)
        scores = []
        for index, reading in enumerate(readings):
            started = time.perf_counter()
            try:
                scores.append(clip_score(aligner.align(audio, spoken_words(reading))))
            except AlignmentError:
                scores.append(-1.0)
            spent = time.perf_counter() - started
            all_s += spent
            first_s += spent if index == 0 else 0.0
        changed += int(np.argmax(scores)) != 0
    audio_s = sum(len(a) for a, _ in clips) / 16000
    return {
        "sentences": len(clips), "with_digits_or_symbols": with_symbols, "readings_aligned": readings_total,
        "audio_chose_another_reading": changed, "no_reading_without_symbols": failed, "audio_s": round(audio_s, 1),
        "normalize_s": round(normalize_s, 2), "align_first_reading_s": round(first_s, 2),
        "align_all_readings_s": round(all_s, 2),
        "normalize_share_of_normalize_and_align": round(normalize_s / (normalize_s + all_s), 3),
        "readings_cost_x_alignment": round(all_s / first_s, 2) if first_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=2.7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"))
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_normalize.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import soxr

    from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner
    from tts_assets.sample_book import PIPER_RATE, synthesize
    from tts_assets.text.nemo import deterministic_normalizer

    started = time.perf_counter()
    deterministic_normalizer("en")
    load_s = time.perf_counter() - started
    book = sample_book(args.work, args.minutes)
    audio = np.concatenate(list(stream_pcm(book.audio, 16000)))
    prose = [(audio[int(s["start"] * 16000): int(s["end"] * 16000)], s["text"]) for s in read_jsonl(book.truth)]
    spoken, spans = synthesize(NUMBERS_HEAVY)
    spoken = soxr.resample(spoken, PIPER_RATE, 16000)
    numbers = [(spoken[int(a * 16000): int(b * 16000)], text) for a, b, text in spans]
    aligner = PocketsphinxAligner()
    results = {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0], "grammar_load_s": round(load_s, 2),
               "sample book": measure(prose, aligner), "numbers-heavy": measure(numbers, aligner)}
    print(f"\n## normalization vs alignment, {os.cpu_count()} CPUs (grammars loaded in {load_s:.1f} s)\n")
    print("| text | sentences (with digits/symbols) | readings aligned | normalize s | align 1st reading s "
          "| align all readings s | normalize share | audio chose another |\n|---|---|---|---|---|---|---|---|")
    for name in ("sample book", "numbers-heavy"):
        r = results[name]
        print(f"| {name} | {r['sentences']} ({r['with_digits_or_symbols']}) | {r['readings_aligned']} | "
              f"{r['normalize_s']} | {r['align_first_reading_s']} | {r['align_all_readings_s']} | "
              f"{r['normalize_share_of_normalize_and_align']:.0%} | {r['audio_chose_another_reading']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Alignment on CPU: each backend's speed (× real time) and boundary accuracy on the same clips, and
what the retries (`align.retry`) keep of clean robotic speech.

- speed: the sample book's sentences (Piper voice), one clip each.
- against known times: the sample book's clips are clean synthetic speech, so each sentence's speech
  begins and ends where its audio first and last rises above silence (10 ms frames above 5% of the
  loudest): the error of the first word's start and the last word's end; and the five LibriVox clips
  joined with known pauses (0.3, 0.8, 0.5, 1.2 s): a cut is placed when the last word before a pause
  ends, and the first after it starts, within 50 ms of the pause.
- against each other: |Δ| of every word start and end, Whisper vs pocketsphinx, on both.
- espeak-ng: 8 sentences each in en-us and en-gb with exact texts, and the same clips with the next
  sentence's text: clips each backend alone aligns at quality.min_align_score, and the chain.

pocketsphinx uses its shipped en-US model; Whisper the packaged tiny.en. WhisperX runs a
wav2vec2-base-sized CTC model built from its config with random weights (no download): the speed of
the real architecture, not its accuracy. From the repository root:
python -m bench.bench_align [--minutes 3] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402

from bench._common import RESULTS, read_jsonl, sample_book  # noqa: E402
from bench.librivox import joined_with_gaps  # noqa: E402
from tts_assets.aligners.base import AlignmentError, clip_score  # noqa: E402
from tts_assets.audio.decode import stream_pcm  # noqa: E402
from tts_assets.settings import AlignSettings, QualitySettings  # noqa: E402
from tts_assets.text.normalize import normalize_text, spoken_words  # noqa: E402

RATE = 16000
LIBRIVOX_GAPS_S = [0.3, 0.8, 0.5, 1.2]
ESPEAK_SENTENCES = [
    "The old lighthouse keeper climbed the stairs every evening.",
    "She packed three apples and a small loaf of bread for the journey.",
    "Heavy rain fell on the village throughout the long winter night.",
    "My brother repairs bicycles in a workshop behind the station.",
    "The children watched the boats sail slowly across the harbour.",
    "A quiet voice whispered the answer from the back of the room.",
    "We planted tomatoes and beans along the sunny side of the garden.",
    "The train to the coast leaves at noon from the second platform.",
]


def base_sized_wav2vec2(folder: Path) -> Path:
    import torch
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor,
                              Wav2Vec2ForCTC, Wav2Vec2Processor)

    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    torch.manual_seed(0)
    Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=len(chars), pad_token_id=0)).save_pretrained(folder)
    return folder


def speech_edges(audio: np.ndarray) -> tuple[float, float]:
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > 0.05 * rms.max())
    return loud[0] / 100, (loud[-1] + 1) / 100


def espeak(text: str, voice: str) -> np.ndarray:
    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(audio, rate, RATE)


def librivox_joined() -> tuple[np.ndarray, list[list[str]], list[tuple[float, float]]]:
    audio, words, joins = joined_with_gaps(LIBRIVOX_GAPS_S)
    return audio, words, [(at, at + gap) for at, gap in joins]


def stats(values: list[float]) -> dict:
    return {"median_s": round(float(np.median(values)), 3), "p90_s": round(float(np.percentile(values, 90)), 3),
            "max_s": round(float(np.max(values)), 3)} if values else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"))
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_align.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    book = sample_book(args.work, args.minutes)
    audio = np.concatenate(list(stream_pcm(book.audio, RATE)))
    clips = [
        (audio[int(s["start"] * RATE) : int(s["end"] * RATE)], spoken_words(normalize_text(s["text"])))
        for s in read_jsonl(book.truth)
    ]
    seconds = sum(len(a) for a, _ in clips) / RATE

    from tts_assets.aligners.choice import make_aligner
    from tts_assets.aligners.pocketsphinx_backend import WIDE_BEAMS, PocketsphinxAligner
    from tts_assets.aligners.whisper_backend import WhisperAligner
    from tts_assets.aligners.whisperx_backend import WhisperxAligner

    backends = {
        "pocketsphinx (en-US model)": PocketsphinxAligner(),
        "pocketsphinx, wide beams (the first retry)": PocketsphinxAligner("pocketsphinx-wide", **WIDE_BEAMS),
        "whisper (tiny.en, packaged)": WhisperAligner(None, "en"),
        "whisperx (wav2vec2-base size, random weights)": WhisperxAligner(
            str(base_sized_wav2vec2(args.work / "wav2vec2_base_random")), "en", "cpu"
        ),
    }
    ps_name, whisper_name = "pocketsphinx (en-US model)", "whisper (tiny.en, packaged)"
    min_score = QualitySettings().min_align_score
    joined, joined_words, pauses = librivox_joined()
    results, aligned_words = [], {}
    for name, aligner in backends.items():
        aligner.align(*clips[0])  # warm-up
        failed, edge_errors, book_words = 0, {"start": [], "end": []}, []
        started = time.perf_counter()
        for clip, words in clips:
            try:
                found = aligner.align(clip, words)
            except AlignmentError:
                failed += 1
                book_words.append(None)
                continue
            book_words.append(found)
            begin, end = speech_edges(clip)
            edge_errors["start"].append(abs(found[0].start - begin))
            edge_errors["end"].append(abs(found[-1].end - end))
        wall = time.perf_counter() - started
        row = {"backend": name, "clips": len(clips), "failed": failed, "audio_s": round(seconds, 1),
               "wall_s": round(wall, 2), "x_real_time": round(seconds / wall, 1)}
        if "random weights" not in name:
            row["first_word_start_error"] = stats(edge_errors["start"])
            row["last_word_end_error"] = stats(edge_errors["end"])
            try:
                found = aligner.align(joined, [w for ws in joined_words for w in ws])
                index, placed = 0, 0
                for (pause_start, pause_end), words in zip(pauses, joined_words):
                    index += len(words)
                    placed += found[index - 1].end <= pause_start + 0.05 and found[index].start >= pause_end - 0.05
                row["librivox_cuts_placed"] = f"{placed} of {len(pauses)}"
            except AlignmentError as exc:
                found, row["librivox_cuts_placed"] = None, f"not aligned ({exc})"
            aligned_words[name] = (book_words, found)
        results.append(row)
        print(f"{name}: {seconds / wall:.1f}x real time", flush=True)

    # Whisper against pocketsphinx, every word boundary of the clips both aligned.
    gaps = []
    (ps_book, ps_joined), (wh_book, wh_joined) = aligned_words[ps_name], aligned_words[whisper_name]
    for a, b in [*zip(ps_book, wh_book), (ps_joined, wh_joined)]:
        if a and b:
            gaps += [abs(x.start - y.start) for x, y in zip(a, b)] + [abs(x.end - y.end) for x, y in zip(a, b)]
    versus = stats(gaps)

    # Robotic speech: each backend alone, and the chain align uses (pocketsphinx, then the retries).
    chain = make_aligner(AlignSettings())
    robotic = []
    for voice in ("en-us", "en-gb"):
        spoken = [espeak(text, voice) for text in ESPEAK_SENTENCES]
        for name, aligner in [(n, backends[n]) for n in backends if "random" not in n] + [("chain (align.retry)", chain)]:
            kept = {"right": 0, "wrong": 0}
            by = {}
            started = time.perf_counter()
            for i, clip in enumerate(spoken):
                for which, text in (("right", ESPEAK_SENTENCES[i]), ("wrong", ESPEAK_SENTENCES[(i + 1) % 8])):
                    words = spoken_words(text)
                    if name.startswith("chain"):
                        best, _ = aligner.align(clip, [(text, words)], min_score)
                        ok = best is not None and best.score >= min_score
                        if ok and which == "right":
                            by[best.aligner] = by.get(best.aligner, 0) + 1
                    else:
                        try:
                            ok = clip_score(aligner.align(clip, words)) >= min_score
                        except AlignmentError:
                            ok = False
                    kept[which] += ok
            robotic.append({"voice": voice, "backend": name, "kept": kept["right"], "wrong_text_kept": kept["wrong"],
                            "clips": len(spoken), "wall_s": round(time.perf_counter() - started, 2),
                            **({"aligned_by": by} if by else {})})
            print(f"espeak {voice} {name}: {kept['right']} of {len(spoken)} kept, {kept['wrong']} wrong", flush=True)

    print(f"\n## alignment, {len(clips)} clips, {seconds / 60:.1f} min, {os.cpu_count()} CPUs\n")
    print("| backend | wall s | × real time | clips not aligned | first word start error, median / p90 s | "
          "last word end error, median / p90 s | LibriVox cuts placed |\n|---|---|---|---|---|---|---|")
    def median_p90(error: dict | None) -> str:
        return f"{error['median_s']} / {error['p90_s']}" if error else "–"

    for r in results:
        print(f"| {r['backend']} | {r['wall_s']} | {r['x_real_time']} | {r['failed']} | "
              f"{median_p90(r.get('first_word_start_error'))} | {median_p90(r.get('last_word_end_error'))} | "
              f"{r.get('librivox_cuts_placed', '–')} |")
    print(f"\nWhisper vs pocketsphinx, {len(gaps)} word starts and ends: median {versus.get('median_s')} s, "
          f"90% within {versus.get('p90_s')} s, max {versus.get('max_s')} s")
    print("\n| espeak-ng voice | backend | clips kept (of 8) | wrong texts kept (of 8) | wall s |\n|---|---|---|---|---|")
    for r in robotic:
        by = f" ({', '.join(f'{k} {v}' for k, v in r['aligned_by'].items())})" if r.get("aligned_by") else ""
        print(f"| {r['voice']} | {r['backend']} | {r['kept']}{by} | {r['wrong_text_kept']} | {r['wall_s']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results, "whisper_vs_pocketsphinx": versus,
                                    "espeak": robotic}, indent=2) + "\n")


if __name__ == "__main__":
    main()

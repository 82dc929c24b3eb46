"""Alignment speed of each backend on CPU, in × real time, over the same clips.

pocketsphinx uses its shipped en-US model. WhisperX runs a wav2vec2-base-sized CTC model built
from its config with random weights (no download): the speed of the real architecture, not its
accuracy. From the repository root: python -m bench.bench_align [--minutes 3] [--work DIR] [--out FILE]
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
from tts_assets.aligners.base import AlignmentError  # noqa: E402
from tts_assets.audio.decode import stream_pcm  # noqa: E402
from tts_assets.text.normalize import normalize_text, spoken_words  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tts_bench"))
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_align.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    book = sample_book(args.work, args.minutes)
    audio = np.concatenate(list(stream_pcm(book.audio, 16000)))
    clips = [
        (audio[int(s["start"] * 16000) : int(s["end"] * 16000)], spoken_words(normalize_text(s["text"])))
        for s in read_jsonl(book.truth)
    ]
    seconds = sum(len(a) for a, _ in clips) / 16000

    from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner
    from tts_assets.aligners.whisperx_backend import WhisperxAligner

    backends = {
        "pocketsphinx (en-US model)": PocketsphinxAligner(),
        "whisperx (wav2vec2-base size, random weights)": WhisperxAligner(
            str(base_sized_wav2vec2(args.work / "wav2vec2_base_random")), "en", "cpu"
        ),
    }
    results = []
    for name, aligner in backends.items():
        aligner.align(*clips[0])  # warm-up
        failed = 0
        started = time.perf_counter()
        for clip, words in clips:
            try:
                aligner.align(clip, words)
            except AlignmentError:
                failed += 1
        wall = time.perf_counter() - started
        results.append({"backend": name, "clips": len(clips), "failed": failed, "audio_s": round(seconds, 1),
                        "wall_s": round(wall, 2), "x_real_time": round(seconds / wall, 1)})
        print(f"{name}: {seconds / wall:.1f}x real time", flush=True)

    print(f"\n## alignment speed, {len(clips)} clips, {seconds / 60:.1f} min, {os.cpu_count()} CPUs\n")
    print("| backend | wall s | × real time | clips not aligned |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['wall_s']} | {r['x_real_time']} | {r['failed']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

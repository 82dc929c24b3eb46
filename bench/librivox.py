"""The five LibriVox clips pocketsphinx ships (one reader of Sense and Sensibility, with their
transcription), for the tests and the GPU training smoke: `build_aligned_voice` makes a data root
with a real aligned dataset from them through this project's own pipeline
(`python -m bench.gpu.prepare_train_smoke`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
LIBRIVOX_IDS = ["0870", "0880", "0890", "0920", "0930"]


def librivox_transcripts() -> dict[str, str]:
    transcripts = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.match(r"<s> (.*) </s> \(sense_and_sensibility_01_austen_64kb-(\d+)\)", line)
        transcripts[match.group(2)] = match.group(1)
    return transcripts


def joined_with_gaps(gaps_s: list[float]):
    """The five clips (16 kHz) joined with the given silences between them: the audio, each clip's
    words, and each join as (time, gap seconds)."""
    import numpy as np
    import soundfile as sf

    texts = librivox_transcripts()
    parts, joins, words, position = [], [], [], 0
    for i, clip_id in enumerate(LIBRIVOX_IDS):
        audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
        parts.append(audio)
        words.append(texts[clip_id].split())
        position += len(audio)
        if i < len(gaps_s):
            joins.append((position / rate, gaps_s[i]))
            parts.append(np.zeros(int(gaps_s[i] * rate), dtype=np.float32))
            position += int(gaps_s[i] * rate)
    return np.concatenate(parts), words, joins


def build_aligned_voice(root: Path, voice: str = "reader") -> Path:
    """A data root holding a real aligned dataset: the five LibriVox clips, 30% validation."""
    import os

    import dagster as dg
    import numpy as np
    import soundfile as sf

    from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
    from tts_assets.layout import DataLayout
    from tts_assets.dataset.sources import BookSource, register_book

    texts = librivox_transcripts()
    parts, lines, position = [], [], 0
    for clip_id in LIBRIVOX_IDS:
        audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
        lines.append(json.dumps({"start": position / rate, "end": (position + len(audio)) / rate, "text": texts[clip_id]}))
        parts += [audio, np.zeros(rate, np.float32)]
        position += len(audio) + rate
    root.mkdir(parents=True, exist_ok=True)
    sf.write(root / "book.flac", np.concatenate(parts), rate)
    (root / "segments.jsonl").write_text("\n".join(lines) + "\n")
    (root / "settings.yaml").write_text("dataset:\n  quality:\n    val_fraction: 0.3\n")
    (root / "dagster_home").mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "TTS_ASSETS_SETTINGS", "TTS_ASSETS_DATA_ROOT")}
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    os.environ["TTS_ASSETS_SETTINGS"] = str(root / "settings.yaml")
    os.environ["TTS_ASSETS_DATA_ROOT"] = str(root / "data")
    try:
        layout = DataLayout(root / "data")
        register_book(layout, voice, BookSource("audiobook", str(root / "book.flac"), str(root / "segments.jsonl")))
        with dg.DagsterInstance.get() as instance:
            build_book_and_dataset(instance, voice, "book")
            assert run_voice_job(instance, "align_voice", voice).success
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return root / "data"

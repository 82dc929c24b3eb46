"""The aligned dataset in coqui's format: metadata_train.csv / metadata_eval.csv and 22.05 kHz clips.

coqui's XTTSDataset silently replaces a sample it cannot use with another one (clips under 0.5 s,
over `max_wav_length` samples, over `max_text_length` tokens, text with characters the tokenizer
does not know): those clips are rejected here instead, each with its reason, so every clip of
`train_aligned.jsonl` ends in exactly one of `clips.jsonl` and `rejections.jsonl`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tts_assets.atomic import write_text_atomic, write_wav_atomic
from tts_assets.audio.clips import read_mono
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, remove_unreferenced, temporary_files, write_jsonl
from tts_assets.xtts import paths
from tts_assets.xtts.base_model import load_tokenizer
from tts_assets.xtts.config import COQUI_RATE, XttsVoiceConfig
from tts_assets.xtts.errors import XttsDataError

log = logging.getLogger(__name__)

METADATA_COLUMNS = ["audio_file", "text", "speaker_name"]

# rejection reasons
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
TOO_MANY_TOKENS = "too_many_tokens"
UNKNOWN_CHARACTERS = "unknown_characters"
EMPTY_TEXT = "empty_text"
MISSING_FILE = "missing_file"
UNREADABLE_AUDIO = "unreadable_audio"
NON_FINITE_AUDIO = "non_finite_audio"


class TokenCounter:
    """Counts tokens exactly as coqui's XTTSDataset does: `VoiceBpeTokenizer.encode(text, lang)`
    (text cleaning, number expansion, the `[lang]` tag and `[SPACE]` tokens included)."""

    def __init__(self, vocab: Path, language: str):
        self.tokenizer = load_tokenizer(vocab)
        self.language = language
        self.unk = self.tokenizer.tokenizer.token_to_id("[UNK]")

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, self.language))

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that encode to [UNK] (coqui asserts on them and swaps the sample)."""
        if self.unk is None or self.unk not in self.encode(text):
            return []
        return sorted({c for c in set(text) if c.strip() and self.unk in self.encode(c)})


def metadata_csv(rows: list[dict], speaker: str) -> str:
    """`audio_file|text|speaker_name`, quoted where coqui's csv.DictReader needs it (quotes, pipes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="|", lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    for row in rows:
        writer.writerow([row["audio_file"], row["text"], speaker])
    return buffer.getvalue()


def _rejection(row: dict, reason: str, detail: str) -> dict:
    return {
        "audio_file": row["audio_file"], "text": row["text"], "split": row.get("split"), "book": row.get("book"),
        "duration": row.get("duration"), "reason": reason, "detail": detail,
    }


def export_xtts_dataset(layout: DataLayout, config: XttsVoiceConfig) -> dict:
    """Write the voice's coqui export under `<data_root>/datasets/<voice>/xtts/`; return its summary."""
    voice = config.voice
    manifest = layout.aligned_manifest(voice)
    if not manifest.is_file():
        raise XttsDataError(manifest, f"no aligned dataset for voice {voice!r}; run `tts-assets align {voice}` first")
    files = config.check_files(layout)
    tokens = TokenCounter(files.vocab, config.language)
    limits = config.export
    dataset_dir = layout.dataset_dir(voice)
    out_dir = paths.export_dir(layout, voice)
    rows = list(read_jsonl(manifest))
    leftovers = temporary_files(out_dir / "wavs")  # a killed export's, removed at the end
    kept: list[dict] = []
    rejected: list[dict] = []
    for number, row in enumerate(rows, start=1):
        text = " ".join(str(row.get("text") or "").split())
        source = dataset_dir / row["audio_file"]
        if not text:
            rejected.append(_rejection(row, EMPTY_TEXT, "no text"))
            continue
        if not source.is_file():
            rejected.append(_rejection(row, MISSING_FILE, f"{source} does not exist"))
            continue
        try:
            audio, rate = read_mono(source)
        except (sf.LibsndfileError, RuntimeError) as exc:
            rejected.append(_rejection(row, UNREADABLE_AUDIO, " ".join(str(exc).split())))
            continue
        if not np.isfinite(audio).all():
            rejected.append(_rejection(row, NON_FINITE_AUDIO, "NaN or infinite samples"))
            continue
        if rate != COQUI_RATE:
            audio = soxr.resample(audio, rate, COQUI_RATE, quality="HQ")
        samples = len(audio)
        if samples < limits.min_seconds * COQUI_RATE:
            rejected.append(_rejection(row, TOO_SHORT, (
                f"{samples / COQUI_RATE:.3f} s < {limits.min_seconds} s (coqui would swap it for another clip)")))
            continue
        if samples > limits.max_samples:
            rejected.append(_rejection(row, TOO_LONG, (
                f"{samples} samples at 22.05 kHz ({samples / COQUI_RATE:.2f} s) > {limits.max_samples}")))
            continue
        unknown = tokens.unknown(text)
        if unknown:
            rejected.append(_rejection(row, UNKNOWN_CHARACTERS, f"the XTTS tokenizer has no token for {unknown}"))
            continue
        count = len(tokens.encode(text))
        if count > limits.max_text_tokens:
            rejected.append(_rejection(row, TOO_MANY_TOKENS, f"{count} text tokens > {limits.max_text_tokens}"))
            continue
        relative = Path("wavs") / row.get("book", "") / (Path(row["audio_file"]).stem + ".wav")
        write_wav_atomic(out_dir / relative, np.clip(audio, -1.0, 1.0), COQUI_RATE, "PCM_16")
        kept.append({
            "audio_file": relative.as_posix(), "text": text, "split": "eval" if row.get("split") == "val" else "train",
            "samples": samples, "duration": round(samples / COQUI_RATE, 4), "tokens": count,
            "source_clip": row["audio_file"], "book": row.get("book"),
        })
        if number % 200 == 0:
            log.info("%s: exported %d of %d clips", voice, number, len(rows))

    train = [r for r in kept if r["split"] == "train"]
    evaluation = [r for r in kept if r["split"] == "eval"]
    write_jsonl(paths.export_manifest(layout, voice), kept)
    write_jsonl(paths.export_rejections(layout, voice), rejected)
    write_text_atomic(paths.metadata_train(layout, voice), metadata_csv(train, voice))
    write_text_atomic(paths.metadata_eval(layout, voice), metadata_csv(evaluation, voice))
    remove_unreferenced(out_dir / "wavs", {out_dir / r["audio_file"] for r in kept}, leftovers)
    summary = {
        "voice": voice,
        "language": config.language,
        "clips_in": len(rows),
        "train": len(train),
        "eval": len(evaluation),
        "rejected": len(rejected),
        "rejections_by_reason": dict(Counter(r["reason"] for r in rejected).most_common()),
        "minutes_train": round(sum(r["duration"] for r in train) / 60, 3),
        "minutes_eval": round(sum(r["duration"] for r in evaluation) / 60, 3),
        "sample_rate": COQUI_RATE,
        "min_seconds": limits.min_seconds,
        "max_samples": limits.max_samples,
        "max_text_tokens": limits.max_text_tokens,
        "max_tokens_seen": max((r["tokens"] for r in kept), default=0),
    }
    write_text_atomic(paths.export_summary(layout, voice), json.dumps(summary, indent=2) + "\n")
    log.info(
        "%s: exported %d train + %d eval clips, rejected %d %s", voice, len(train), len(evaluation), len(rejected),
        summary["rejections_by_reason"] or "",
    )
    return summary


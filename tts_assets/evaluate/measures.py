"""The figures of one spoken sentence: words heard, speech length, speaker similarity."""

from __future__ import annotations

import numpy as np
import regex
import soxr

from tts_assets.text.normalize import normalize_text

WHISPER_RATE = 16000
SPEECH_FLOOR_DB = -45.0  # 20 ms frames louder than this (dBFS) count as sound


def wer_words(text: str, language: str = "en") -> str:
    """Lowercase words without punctuation, numbers (and in English abbreviations) spelled out, as
    the datasets' texts are; numbers left as digits count as words too."""
    return " ".join(regex.findall(r"[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*", normalize_text(text, language).lower()))


def word_error_rate(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    """Corpus WER: all errors over all reference words (jiwer)."""
    import jiwer

    refs = [wer_words(r, language) for r in references]
    hyps = [wer_words(h, language) for h in hypotheses]
    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    if not pairs:
        return float("nan")
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def sounding_seconds(audio: np.ndarray, rate: int, floor_db: float = SPEECH_FLOOR_DB) -> float:
    """Seconds of 20 ms frames above an absolute level: silence (or a dead decoder) gives 0."""
    size = max(1, int(rate * 0.02))
    count = len(audio) // size
    if count == 0:
        return 0.0
    frames = np.asarray(audio[: count * size], dtype=np.float64).reshape(count, size)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.count_nonzero(rms > 10 ** (floor_db / 20)) * size / rate)


def transcribe(model, audio: np.ndarray, rate: int, language: str | None, beam_size: int) -> str:
    """faster-whisper's transcript of in-memory audio (no VAD: silence must read as no words)."""
    wav = np.asarray(audio, dtype=np.float32)
    if rate != WHISPER_RATE:
        wav = soxr.resample(wav, rate, WHISPER_RATE).astype(np.float32)
    if len(wav) < WHISPER_RATE // 10:
        return ""
    segments, _ = model.transcribe(wav, language=language, beam_size=beam_size, vad_filter=False,
                                   condition_on_previous_text=False, without_timestamps=True)
    return " ".join(s.text.strip() for s in segments).strip()

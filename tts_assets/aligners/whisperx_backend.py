"""WhisperX (wav2vec2 CTC) forced alignment, one clip at a time (a whole book at once needs tens of
GB: WhisperX #311). Works offline with a local Hugging Face model folder."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tts_assets.aligners.base import ALIGN_RATE, AlignedWord, AlignmentError
from tts_assets.cache import user_cache
from tts_assets.errors import ModelNotFoundError

log = logging.getLogger(__name__)

PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")


def ensure_punkt_tab(language: str = "english") -> Path:
    """whisperx.align loads NLTK's punkt_tab and downloads it when missing; offline that fails.

    It only splits the (single-sentence) clip text, so empty parameter files serve.
    """
    import nltk

    for root in nltk.data.path:
        if (Path(root) / "tokenizers" / "punkt_tab" / language).is_dir():
            return Path(root)
    root = user_cache("nltk_data")
    folder = root / "tokenizers" / "punkt_tab" / language
    folder.mkdir(parents=True, exist_ok=True)
    for name in PUNKT_FILES:
        (folder / name).touch()
    nltk.data.path.insert(0, str(root))
    return root


class WhisperxAligner:
    name = "whisperx"

    def __init__(self, model: str | None, language: str = "en", device: str = "cpu") -> None:
        import whisperx
        from whisperx.utils import PUNKT_LANGUAGES

        # whisperx.align loads punkt_tab/<PUNKT_LANGUAGES[language]> (English where it has none).
        ensure_punkt_tab(PUNKT_LANGUAGES.get(language, "english"))
        local = model is not None and Path(model).is_dir()
        try:
            self._model, self._metadata = whisperx.load_align_model(
                language, device, model_name=model, model_cache_only=local
            )
        except Exception as exc:  # whisperx wraps hub and file errors in ValueError, or not at all
            raise ModelNotFoundError(
                str(model or f"default {language} aligner"),
                f"{exc}; give a local wav2vec2 CTC model folder (align.wav2vec2_model) when offline",
            ) from exc
        self.model = model or f"WhisperX's default {language} model"
        self._device = device
        self._align = whisperx.align
        log.info("WhisperX aligner %s on %s", model or language, device)

    def align(self, audio: np.ndarray, words: list[str]) -> list[AlignedWord]:
        if not words:
            raise AlignmentError("no words to align")
        duration = len(audio) / ALIGN_RATE
        segment = {"start": 0.0, "end": duration, "text": " ".join(words)}
        result = self._align([segment], self._model, self._metadata, audio.astype(np.float32),
                             self._device, return_char_alignments=False)
        raw = [w for s in result["segments"] for w in s.get("words", [])]
        if len(raw) != len(words) or any("start" not in w for w in raw):
            timed = sum(1 for w in raw if "start" in w)
            raise AlignmentError(f"wav2vec2 aligned {timed} of {len(words)} words")
        return [
            AlignedWord(word, round(float(w["start"]), 3), round(float(w["end"]), 3),
                        round(float(w.get("score", 0.0)), 4))
            for word, w in zip(words, raw)
        ]

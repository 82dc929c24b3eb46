"""Which aligner aligns a voice's clips (`align.backend`), and the ones tried before a clip is given up.

`auto`: WhisperX when a wav2vec2 model is configured, or online with WhisperX's default model for
the language; else pocketsphinx for English; else the Whisper aligner (any Whisper language,
offline with the packaged model). A clip the chosen aligner cannot align, or scores below the
bar, is tried again (`align.retry`): pocketsphinx with wider beams, then the Whisper aligner. Only
failed clips pay for the retries, and a later backend is built when a clip first needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tts_assets.aligners.base import AlignedWord, Aligner, AlignmentError, clip_score
from tts_assets.errors import ModelNotFoundError, SettingsError
from tts_assets.settings import AlignSettings

log = logging.getLogger(__name__)

BACKENDS = ("auto", "pocketsphinx", "whisperx", "whisper")
DEFAULT_LANGUAGE = "en"  # when neither the settings nor the voice's ingest give one


@dataclass(frozen=True)
class Alignment:
    reading: str  # the text as aligned
    words: list[AlignedWord]
    score: float
    aligner: str  # the backend that aligned it
    model: str


class AlignerChain:
    """Backends in the order they are tried on a clip; the first is built at once (a missing model
    fails the run before any work), each later one when a clip first needs it."""

    def __init__(self, first: Aligner, retries: list[tuple[str, Callable[[], Aligner]]] = ()) -> None:
        self.name, self.model = first.name, first.model
        self._tiers: list[tuple[str, Callable[[], Aligner]]] = [(first.name, lambda: first), *retries]
        self._built: dict[int, Aligner] = {0: first}
        self.backends = [name for name, _ in self._tiers]

    def _aligner(self, index: int) -> Aligner:
        if index not in self._built:
            self._built[index] = self._tiers[index][1]()
            log.info("retrying failed clips with the %s aligner (%s)", self._built[index].name,
                     self._built[index].model)
        return self._built[index]

    def align(self, audio: np.ndarray, readings: list[tuple[str, list[str]]],
              min_score: float) -> tuple[Alignment | None, str]:
        """The best-scored reading (text, its words) of the first backend that aligns one at
        `min_score` or better; else the best found (None: none aligned) and what each backend said."""
        said, best = [], None
        for index, (name, _) in enumerate(self._tiers):
            aligner = self._aligner(index)
            found, failure = None, None
            for reading, words in readings:
                try:
                    aligned = aligner.align(audio, words)
                except AlignmentError as exc:
                    failure = failure or exc
                    continue
                score = clip_score(aligned)
                if found is None or score > found.score:
                    found = Alignment(reading, aligned, score, aligner.name, aligner.model)
            if found is not None and found.score >= min_score:
                return found, ""
            said.append(f"{name}: {failure}" if found is None else f"{name}: score {found.score:.3f} < {min_score}")
            if found is not None and (best is None or found.score > best.score):
                best = found
        return best, "; ".join(said)


def as_chain(aligner: Aligner | AlignerChain) -> AlignerChain:
    """A given backend on its own (no retries), as a chain."""
    return aligner if isinstance(aligner, AlignerChain) else AlignerChain(aligner)


def align_language(settings: AlignSettings) -> str:
    return settings.language or DEFAULT_LANGUAGE


def make_aligner(settings: AlignSettings) -> AlignerChain:
    """The backend the settings choose (logged), with the retries after it."""
    language = align_language(settings)
    first = _chosen(settings, language)
    retries = []
    if settings.retry and first.name == "pocketsphinx":
        retries.append(("pocketsphinx-wide", _wide_pocketsphinx))
    if settings.retry and first.name != "whisper":
        retries.append(("whisper", lambda: _whisper(settings.whisper_model, language, settings.device)))
    chain = AlignerChain(first, retries)
    log.info("aligning %s with %s (%s)%s", language, first.name, first.model,
             f"; a clip it fails is retried with {', '.join(chain.backends[1:])}" if retries else "")
    return chain


def _chosen(settings: AlignSettings, language: str) -> Aligner:
    backend = settings.backend
    if backend == "whisperx" or (backend == "auto" and settings.wav2vec2_model):
        return _whisperx(settings.wav2vec2_model, language, settings.device)
    if backend == "auto":
        default = _default_wav2vec2_online(language)
        if default:
            try:
                return _whisperx(default, language, settings.device)
            except ModelNotFoundError as exc:  # not reachable after all: the offline choice
                log.warning("WhisperX's default %s aligner cannot be loaded (%s); using %s", language, exc,
                            "pocketsphinx" if language == "en" else "the Whisper aligner")
        backend = "pocketsphinx" if language == "en" else "whisper"
    if backend == "pocketsphinx":
        if language != "en":
            raise SettingsError(f"the pocketsphinx aligner is English only, not {language!r}; "
                                "set align.backend to auto or whisper (or align.wav2vec2_model)")
        from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner

        return PocketsphinxAligner()
    if backend == "whisper":
        return _whisper(settings.whisper_model, language, settings.device)
    raise SettingsError(f"unknown aligner backend {backend!r} ({', '.join(BACKENDS)})")


def _default_wav2vec2_online(language: str) -> str | None:
    """WhisperX's default wav2vec2 model for the language, when the hub may be asked (never offline)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    return DEFAULT_ALIGN_MODELS_TORCH.get(language) or DEFAULT_ALIGN_MODELS_HF.get(language)


def _whisperx(model: str | None, language: str, device: str) -> Aligner:
    from tts_assets.aligners.whisperx_backend import WhisperxAligner

    return WhisperxAligner(model, language, device)


def _whisper(model: str | None, language: str, device: str) -> Aligner:
    from tts_assets.aligners.whisper_backend import WhisperAligner

    return WhisperAligner(model, language, device)


def _wide_pocketsphinx() -> Aligner:
    from tts_assets.aligners.pocketsphinx_backend import WIDE_BEAMS, PocketsphinxAligner

    return PocketsphinxAligner("pocketsphinx-wide", **WIDE_BEAMS)

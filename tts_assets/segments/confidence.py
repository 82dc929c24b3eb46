"""Doubtful ASR segments: a word the ASR itself gives little chance, or a second model that heard
other words. Pure functions over segments; the book's own text needs neither."""

from __future__ import annotations

from tts_assets.evaluate.measures import word_error_rate
from tts_assets.manifest.schema import Reason
from tts_assets.segments.model import Segment


def doubt(segment: Segment, min_word_probability: float, max_verify_wer: float,
          language: str | None) -> tuple[Reason, str] | None:
    """Why the segment's transcript cannot be trusted, or None."""
    probabilities = [(w.probability, w.word.strip()) for w in segment.words if w.probability is not None]
    if probabilities:
        lowest, word = min(probabilities)
        if lowest < min_word_probability:
            return Reason.UNCERTAIN_TRANSCRIPT, f"the ASR gives {word!r} a probability of {lowest:.2f} (< {min_word_probability})"
    if segment.verify_text is not None:
        wer = word_error_rate([segment.text], [segment.verify_text], language or "en")
        if wer > max_verify_wer:
            return Reason.ASR_DISAGREEMENT, f"the verification model heard {segment.verify_text!r} (WER {wer:.2f} > {max_verify_wer})"
    return None

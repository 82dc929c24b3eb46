"""What every aligner backend returns, and the error when it cannot."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

ALIGN_RATE = 16000


class AlignmentError(Exception):
    """This clip's text could not be aligned to its audio (the clip is rejected, not the run)."""


@dataclass(frozen=True)
class AlignedWord:
    word: str
    start: float  # seconds from the start of the audio given
    end: float
    score: float  # 0..1, higher is a better acoustic match

    def to_dict(self) -> dict:
        return asdict(self)


class Aligner(Protocol):
    name: str
    model: str  # what it aligns with (a folder, a model's name), recorded with each clip

    def align(self, audio: np.ndarray, words: list[str]) -> list[AlignedWord]:
        """Times for `words` (spoken_words: lowercase letters of any script, no punctuation) in 16 kHz
        mono `audio`; each AlignedWord carries its word as given."""


def clip_score(words: list[AlignedWord]) -> float:
    """Duration-weighted geometric mean of the word scores."""
    total = sum(w.end - w.start for w in words)
    if not words or total <= 0:
        return 0.0
    log_sum = sum((w.end - w.start) * math.log(max(w.score, 1e-12)) for w in words)
    return round(math.exp(log_sum / total), 4)

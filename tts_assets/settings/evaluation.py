"""Checkpoint-evaluation settings (`evaluation:`); every threshold can be null to skip that
criterion. configs/evaluation.yaml documents every field with its default."""

from __future__ import annotations

from pydantic import Field

from tts_assets.settings.base import StrictSettings

FALLBACK_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "It was the best of times, it was the worst of times.",
]


class EvaluationSettings(StrictSettings):
    sentences: list[str] | None = None
    fallback_sentences: list[str] = Field(default_factory=lambda: list(FALLBACK_SENTENCES))
    max_sentences: int = Field(8, ge=1)
    language: str = "en"
    seed: int = 0
    device: str = "auto"
    asr_model: str | None = None
    asr_beam_size: int = Field(5, ge=1)
    speaker_model: str = "resemblyzer"
    reference_audio: str | None = None
    max_wer: float | None = 0.3
    min_speaker_similarity: float | None = 0.75
    max_seconds_per_char: float | None = Field(0.2, gt=0)
    min_speech_seconds_per_char: float | None = Field(0.025, ge=0)
    generation_headroom: float = Field(1.5, ge=1.0)
    min_generation_seconds: float = Field(2.0, gt=0)
    max_generation_seconds: float | None = Field(None, gt=0)
    trend_length: int = Field(10, ge=1)

    def thresholds(self) -> dict:
        return {
            "max_wer": self.max_wer,
            "min_speaker_similarity": self.min_speaker_similarity,
            "max_seconds_per_char": self.max_seconds_per_char,
            "min_speech_seconds_per_char": self.min_speech_seconds_per_char,
        }

    def generation_seconds(self, text: str) -> float:
        """The generation cap for one sentence: above the runaway bound, so runaways are seen."""
        if self.max_generation_seconds:
            return self.max_generation_seconds
        per_char = self.max_seconds_per_char or 0.2
        return max(self.min_generation_seconds, len(text) * per_char * self.generation_headroom)


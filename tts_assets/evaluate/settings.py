"""Checkpoint-evaluation settings: the `evaluation:` section of the settings YAML ($TTS_ASSETS_SETTINGS).

Every threshold can be set to null to skip that criterion. Defaults:

    evaluation:
      sentences: null              # null: the voice's held-out (split "val") clip texts, else fallback_sentences
      max_sentences: 8
      language: en
      seed: 0                      # each sentence i is generated with seed + i (reproducible figures)
      device: auto                 # where the checkpoint speaks: auto | cpu | cuda
      asr_model: null              # faster-whisper name or local CTranslate2 folder; null: dataset.asr.model
      asr_beam_size: 5
      speaker_model: resemblyzer   # resemblyzer | qwen3 | qwen3:<model folder> | <GE2E .pt file> | none
      reference_audio: null        # null: the voice's Qwen3 reference clip (else the best-aligned 5-10 s clip)
      max_wer: 0.3                 # word error rate over all sentences (Whisper transcript vs text)
      min_speaker_similarity: 0.75 # mean cosine similarity to the reference (calibrated for resemblyzer)
      max_seconds_per_char: 0.2    # any sentence longer than this: runaway generation
      min_speech_seconds_per_char: 0.025  # any sentence with less speech than this: silence / truncation
      generation_headroom: 1.5     # generation is capped at headroom x the longest allowed length,
      min_generation_seconds: 2.0  #   at least this many seconds,
      max_generation_seconds: null #   or exactly this many when set
      trend_length: 10             # evaluations shown in the asset check's trend
"""

from __future__ import annotations

from pydantic import Field

from tts_assets.settings import SectionSettings

FALLBACK_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "It was the best of times, it was the worst of times.",
]


class EvaluationSettings(SectionSettings):
    section = "evaluation"
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


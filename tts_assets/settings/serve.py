"""The TTS server's settings (`serve:`), overridable by `serve()`'s arguments; configs/serve.yaml
documents every field with its default."""

from __future__ import annotations

from pydantic import Field

from tts_assets.settings.base import StrictSettings


class ServeSettings(StrictSettings):
    device: str = "auto"
    max_input_chars: int = Field(4096, ge=1)
    max_body_bytes: int = Field(65536, ge=256)
    max_queue: int = Field(8, ge=0)
    max_loaded_voices: int = Field(2, ge=1)
    max_piece_chars: int = Field(250, ge=20)
    sentence_pause_s: float = Field(0.25, ge=0)
    max_seconds_per_char: float = Field(0.25, gt=0)
    min_piece_seconds: float = Field(3.0, gt=0)
    normalize_text: bool = True
    language: str = "en"
    require_promoted: bool = False
    seed: int | None = None
    default_format: str = "mp3"

    def piece_seconds(self, piece: str) -> float:
        return max(self.min_piece_seconds, len(piece) * self.max_seconds_per_char)


"""Server settings: the `serve:` section of the settings YAML ($TTS_ASSETS_SETTINGS), overridable
by `serve()`'s arguments. Defaults:

    serve:
      device: auto              # auto | cpu | cuda | cuda:1: one device per server, requests queued for it
      max_input_chars: 4096     # longer `input`, as sent (OpenAI's limit) or spelled out → 400
      max_body_bytes: 65536     # larger request bodies → 413, before they are read
      max_queue: 8              # requests waiting behind the one being spoken; more → 503
      max_loaded_voices: 2      # checkpoints kept in (GPU) memory, least recently used unloaded first
      max_piece_chars: 250      # longer sentences are split at clause marks, else spaces
      sentence_pause_s: 0.25    # silence between joined pieces
      max_seconds_per_char: 0.25  # generation cap per piece (runaway guard) ...
      min_piece_seconds: 3.0    #   ... at least this many seconds
      normalize_text: true      # spell out numbers (in English symbols, abbreviations too) as datasets do
      language: en
      require_promoted: false   # true: serve only checkpoints that passed evaluation (latest.json)
      seed: null                # an int makes output reproducible (piece i uses seed + i)
      default_format: mp3       # when a request names none (OpenAI's default)
"""

from __future__ import annotations

from pydantic import Field

from tts_assets.settings import SectionSettings


class ServeSettings(SectionSettings):
    section = "serve"
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


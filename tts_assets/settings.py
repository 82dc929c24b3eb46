"""Dataset-build settings: one home, defaults from the anchors, overridable from YAML."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tts_assets.asr.settings import AsrSettings
from tts_assets.errors import InputFileError
from tts_assets.segments.merge import MergeRules

SETTINGS_ENV = "TTS_ASSETS_SETTINGS"


class SectionSettings(BaseModel):
    """Settings read from one top-level section of the settings YAML, then per-run overrides."""

    model_config = ConfigDict(extra="forbid")
    section: ClassVar[str]

    @classmethod
    def load(cls, path: str | Path | None, **overrides):
        data = {}
        if path:
            try:
                data = (yaml.safe_load(Path(path).read_text()) or {}).get(cls.section) or {}
            except (OSError, yaml.YAMLError, AttributeError) as exc:
                raise InputFileError(path, f"invalid settings: {exc}".replace("\n", " ")) from exc
        try:
            return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})
        except (ValueError, TypeError) as exc:  # TypeError: the section is not a mapping
            raise InputFileError(path or f"{cls.section} settings", str(exc).replace("\n", " ")) from exc


class ClipFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_rate: int = 24000
    subtype: str = "PCM_16"  # any soundfile WAV subtype: PCM_16, PCM_24, FLOAT


class AlignSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: str = "auto"  # auto: whisperx when wav2vec2_model is set, else pocketsphinx (English)
    wav2vec2_model: str | None = None  # local Hugging Face Wav2Vec2ForCTC folder, or a hub id online
    language: str = "en"
    device: str = "cpu"
    pad_s: float = 0.15  # silence kept before the first and after the last aligned word


class QualitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_align_score: float = Field(0.1, ge=0, le=1)  # pocketsphinx: ~0.3 for a matching text, ~0.01 for a wrong one
    rate_iqr_k: float = Field(1.5, gt=0)  # seconds-per-character outliers beyond k × IQR are rejected
    max_clipping: float = Field(0.001, ge=0, le=1)  # share of samples at full scale
    min_snr_db: float = 15.0
    max_silence: float = Field(0.5, ge=0, le=1)  # share of 20 ms frames 40 dB below the loudest
    min_chars_per_s: float = Field(5.0, ge=0)  # text/audio length mismatch bounds
    max_chars_per_s: float = Field(30.0, gt=0)
    loudness_lufs: float | None = None  # e.g. -23.0 to normalize kept clips (pyloudnorm)
    val_fraction: float = Field(0.05, ge=0, lt=1)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> "QualitySettings":
        if self.min_chars_per_s >= self.max_chars_per_s:
            raise ValueError(f"min_chars_per_s ({self.min_chars_per_s}) must be below max_chars_per_s "
                             f"({self.max_chars_per_s})")
        return self


class InputSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # A symlink is followed only inside its input (the data root for the inbox, the clips folder for
    # curated clips): one that leads elsewhere could expose any file the process can read.
    follow_outside_links: bool = False


class DatasetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: InputSettings = Field(default_factory=InputSettings)
    asr: dict = Field(default_factory=dict)  # fields of AsrSettings
    merge: dict = Field(default_factory=dict)  # fields of MergeRules
    clips: ClipFormat = Field(default_factory=ClipFormat)
    align: AlignSettings = Field(default_factory=AlignSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)

    def asr_settings(self, **overrides) -> AsrSettings:
        given = {k: v for k, v in overrides.items() if v is not None}
        return _dataclass_from(AsrSettings, {**self.asr, **given}, "asr")

    def merge_rules(self) -> MergeRules:
        return _dataclass_from(MergeRules, self.merge, "merge")

    @classmethod
    def load(cls, path: str | Path | None) -> "DatasetSettings":
        if not path:
            return cls()
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise ValueError(f"a mapping of sections is expected, not a {type(data).__name__}")
            settings = cls.model_validate(data.get("dataset", data))
            settings.asr_settings(), settings.merge_rules()
            return settings
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise InputFileError(path, f"invalid settings: {exc}".replace("\n", " ")) from exc

    def describe(self) -> dict:
        return {
            "inputs": self.inputs.model_dump(),
            "asr": asdict(self.asr_settings()),
            "merge": asdict(self.merge_rules()),
            "clips": self.clips.model_dump(),
            "align": self.align.model_dump(),
            "quality": self.quality.model_dump(),
        }


def _dataclass_from(kind, values: dict, section: str):
    known = {f.name for f in fields(kind)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {section} setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return kind(**values)


class VoiceSettings(BaseModel):
    """`inbox/<voice>/voice.yaml`: what one voice needs (a French voice and an English one in one
    inbox), over the settings file. Every field is optional; a book's own options (`ingest
    --language/--asr-model`) still come first."""

    model_config = ConfigDict(extra="forbid")
    language: str | None = None  # of the ASR and the aligner
    asr_model: str | None = None
    aligner: Literal["auto", "pocketsphinx", "whisperx"] | None = None
    align_model: str | None = None  # the whisperx aligner's wav2vec2 model
    engines: list[Literal["qwen3", "xtts"]] | None = None  # which the nightly training trains
    xtts_config: str | None = None  # the voice's XTTS config (relative to voice.yaml's folder)

    @classmethod
    def load(cls, path: Path) -> "VoiceSettings":
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
            settings = cls.model_validate(data)
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise InputFileError(path, f"invalid voice settings: {exc}".replace("\n", " ")) from exc
        if settings.xtts_config:  # found later by runs started elsewhere
            settings.xtts_config = str((Path(path).parent / settings.xtts_config).resolve())
        return settings

    def over(self, settings: DatasetSettings) -> DatasetSettings:
        """The dataset settings with this voice's choices in place."""
        asr = {**settings.asr, **{k: v for k, v in {"language": self.language, "model": self.asr_model}.items() if v}}
        align = settings.align.model_copy(update={k: v for k, v in {
            "language": self.language, "backend": self.aligner, "wav2vec2_model": self.align_model}.items() if v})
        return settings.model_copy(update={"asr": asr, "align": align})

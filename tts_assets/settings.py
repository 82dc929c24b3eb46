"""Dataset-build settings: one home, defaults from the anchors, overridable from YAML."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tts_assets.asr.whisper import AsrSettings
from tts_assets.errors import InputFileError
from tts_assets.segments.merge import MergeRules

SETTINGS_ENV = "TTS_ASSETS_SETTINGS"


class ClipFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_rate: int = 24000
    subtype: str = "PCM_16"  # any soundfile WAV subtype: PCM_16, PCM_24, FLOAT


class DatasetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    asr: dict = Field(default_factory=dict)  # fields of AsrSettings
    merge: dict = Field(default_factory=dict)  # fields of MergeRules
    clips: ClipFormat = Field(default_factory=ClipFormat)

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
            settings = cls.model_validate(data.get("dataset", data))
            settings.asr_settings(), settings.merge_rules()
            return settings
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise InputFileError(path, f"invalid settings: {exc}".replace("\n", " ")) from exc

    def describe(self) -> dict:
        return {
            "asr": asdict(self.asr_settings()),
            "merge": asdict(self.merge_rules()),
            "clips": self.clips.model_dump(),
        }


def _dataclass_from(kind, values: dict, section: str):
    known = {f.name for f in fields(kind)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {section} setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return kind(**values)

"""One settings tree, read once from one YAML file ($TTS_ASSETS_SETTINGS), one section per concern:

    dataset:     the dataset build (configs/dataset.yaml documents every field with its default)
    qwen3:       Qwen3-TTS codes and training (configs/qwen3.yaml)
    serve:       the TTS server (configs/serve.yaml)
    evaluation:  checkpoint evaluation (configs/evaluation.yaml)
    review:      the review page (configs/review.yaml)

Unknown sections or names, or values out of range, are refused with one line naming the file.
The Dagster layer reaches it through its resource (`TtsAssetsResource.settings()`); the library
takes the section it needs as an argument.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from tts_assets.errors import InputFileError
from tts_assets.settings.base import SECTIONS, StrictSettings, describe_validation, one_line
from tts_assets.settings.dataset import (AlignSettings, AsrSettings, BookTextSettings, ClipFormat, DatasetSettings, InputSettings,
                                         MergeRules, QualitySettings, SpeakerSettings, VoiceSettings)
from tts_assets.settings.evaluation import FALLBACK_SENTENCES, EvaluationSettings
from tts_assets.settings.qwen3 import Qwen3Settings
from tts_assets.settings.review import ReviewSettings
from tts_assets.settings.serve import ServeSettings

SETTINGS_ENV = "TTS_ASSETS_SETTINGS"


class Settings(StrictSettings):
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    qwen3: Qwen3Settings = Field(default_factory=Qwen3Settings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)

    @classmethod
    def load(cls, path: str | Path | None) -> "Settings":
        """The settings in the YAML file at `path`; None or an empty file: every default."""
        if not path:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputFileError(path, f"invalid settings: {one_line(exc)}") from exc
        if not isinstance(data, dict):
            raise InputFileError(path, f"invalid settings: a mapping of sections is expected, "
                                       f"not a {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputFileError(path, f"invalid settings: {describe_validation(exc, cls)}") from exc


SECTIONS.update({field.annotation: name for name, field in Settings.model_fields.items()})


__all__ = [
    "SETTINGS_ENV", "AlignSettings", "AsrSettings", "BookTextSettings", "ClipFormat", "DatasetSettings", "EvaluationSettings",
    "FALLBACK_SENTENCES", "InputSettings", "MergeRules", "QualitySettings", "Qwen3Settings", "ReviewSettings", "ServeSettings",
    "SpeakerSettings",
    "Settings", "VoiceSettings",
]

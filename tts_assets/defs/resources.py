"""The one resource every asset uses: where the data lives and the dataset settings."""


import os

import dagster as dg

from tts_assets.layout import DataLayout
from tts_assets.settings import SETTINGS_ENV, DatasetSettings, VoiceSettings


class TtsAssetsResource(dg.ConfigurableResource):
    data_root: str | None = None  # None: $TTS_ASSETS_DATA_ROOT, else ./data
    settings_file: str | None = None  # None: $TTS_ASSETS_SETTINGS (a YAML like configs/dataset.yaml)

    def layout(self) -> DataLayout:
        return DataLayout.at(self.data_root)

    def settings(self, voice: str | None = None) -> DatasetSettings:
        """The dataset settings; for a voice, with its `voice.yaml` in place."""
        settings = DatasetSettings.load(self.settings_file or os.environ.get(SETTINGS_ENV))
        own = self.layout().voice_settings(voice) if voice else None
        return VoiceSettings.load(own).over(settings) if own and own.is_file() else settings


def voice_and_book(context: dg.AssetExecutionContext) -> tuple[str, str]:
    key = context.partition_key
    return key.keys_by_dimension["voice"], key.keys_by_dimension["book"]

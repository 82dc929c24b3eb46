"""The one resource every asset uses: where the data lives and the settings tree."""


import os

import dagster as dg

from tts_assets.layout import DataLayout
from tts_assets.settings import SETTINGS_ENV, Settings, VoiceSettings


class TtsAssetsResource(dg.ConfigurableResource):
    data_root: str | None = None  # None: $TTS_ASSETS_DATA_ROOT, else ./data
    settings_file: str | None = None  # None: $TTS_ASSETS_SETTINGS (sections as in configs/*.yaml)

    def layout(self) -> DataLayout:
        return DataLayout.at(self.data_root)

    def settings(self, voice: str | None = None) -> Settings:
        """The whole settings tree; for a voice, with its `voice.yaml` over the dataset section."""
        settings = Settings.load(self.settings_file or os.environ.get(SETTINGS_ENV))
        own = self.layout().voice_settings(voice) if voice else None
        if own and own.is_file():
            settings = settings.model_copy(update={"dataset": VoiceSettings.load(own).over(settings.dataset)})
        return settings


def voice_and_book(context: dg.AssetExecutionContext) -> tuple[str, str]:
    key = context.partition_key
    return key.keys_by_dimension["voice"], key.keys_by_dimension["book"]

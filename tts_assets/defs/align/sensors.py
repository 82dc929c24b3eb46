"""A voice's dataset and its aligned dataset follow its books by themselves (declarative
automation: the assets' eager conditions, evaluated by this sensor)."""

import dagster as dg

from tts_assets.defs.align.assets import aligned_dataset
from tts_assets.defs.ingest.assets import voice_dataset
from tts_assets.defs.ingest.sensors import SENSOR_INTERVAL_S

# On by default, so the inbox-to-training path needs no one to switch anything on; the UI's
# Automation tab shows why each run was requested (which condition of which asset was true).
dataset_automation = dg.AutomationConditionSensorDefinition(
    "dataset_automation",
    target=dg.AssetSelection.assets(voice_dataset, aligned_dataset),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    description="Refreshes a voice's dataset when a book of it is built, and aligns it when it changes.",
)

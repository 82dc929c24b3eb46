import dagster as dg

from tts_assets.defs.align.assets import aligned_dataset
from tts_assets.defs.partitions import voice_partitions

align_voice_job = dg.define_asset_job(
    "align_voice",
    selection=dg.AssetSelection.assets(aligned_dataset),
    partitions_def=voice_partitions,
    description="A voice's dataset → aligned, normalized, filtered and split (train_aligned.jsonl).",
)

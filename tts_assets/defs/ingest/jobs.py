import dagster as dg

from tts_assets.defs.ingest.assets import (
    book_clips,
    located_segments,
    merged_segments,
    source_audio,
    transcript_segments,
    voice_dataset,
)
from tts_assets.defs.partitions import voice_book_partitions, voice_partitions

build_book_job = dg.define_asset_job(
    "build_book",
    selection=[source_audio, transcript_segments, located_segments, merged_segments, book_clips],
    partitions_def=voice_book_partitions,
    description="One audiobook (or curated folder) of a voice → its clips and manifests.",
)

build_voice_dataset_job = dg.define_asset_job(
    "build_voice_dataset",
    selection=dg.AssetSelection.assets(voice_dataset),
    partitions_def=voice_partitions,
    description="All built books of a voice → the voice's dataset, report and checks.",
)

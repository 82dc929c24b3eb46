import dagster as dg

from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.qwen3.assets import qwen3_checkpoint, qwen3_codes, qwen3_samples

# Training runs: stopped by run monitoring after a day, retried once after a failure.
TRAINING_RUN_TAGS = {"dagster/max_runtime": str(24 * 3600), "dagster/max_retries": "1"}

convert_qwen3_job = dg.define_asset_job(
    "convert_qwen3", selection=[qwen3_codes], partitions_def=voice_partitions,
    description="A voice's aligned dataset → Qwen3-TTS audio-code manifest.",
)
train_qwen3_job = dg.define_asset_job(
    "train_qwen3", selection=[qwen3_checkpoint, qwen3_samples], partitions_def=voice_partitions,
    tags=TRAINING_RUN_TAGS,
    description="Fine-tune Qwen3-TTS on a voice (GPU pool), then speak the sample sentences.",
)

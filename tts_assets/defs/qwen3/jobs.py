import dagster as dg

from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.qwen3.assets import qwen3_checkpoint, qwen3_codes, qwen3_samples

convert_qwen3_job = dg.define_asset_job(
    "convert_qwen3", selection=[qwen3_codes], partitions_def=voice_partitions,
    description="A voice's aligned dataset → Qwen3-TTS audio-code manifest.",
)
train_qwen3_job = dg.define_asset_job(
    "train_qwen3", selection=[qwen3_checkpoint, qwen3_samples], partitions_def=voice_partitions,
    description="Fine-tune Qwen3-TTS on a voice (GPU pool), then speak the sample sentences.",
)

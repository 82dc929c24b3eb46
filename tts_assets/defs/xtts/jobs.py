import dagster as dg

from tts_assets.defs.qwen3.jobs import TRAINING_RUN_TAGS
from tts_assets.defs.xtts.assets import xtts_checkpoint, xtts_export, xtts_samples

export_xtts_job = dg.define_asset_job(
    "export_xtts",
    selection=dg.AssetSelection.assets(xtts_export),
    description="A voice's aligned dataset → coqui metadata_train.csv / metadata_eval.csv and 22.05 kHz clips.",
)

train_xtts_job = dg.define_asset_job(
    "train_xtts",
    tags=TRAINING_RUN_TAGS,
    selection=dg.AssetSelection.assets(xtts_export, xtts_checkpoint, xtts_samples),
    description="Export, fine-tune XTTS-v2 (resuming the run's newest checkpoint), then speak the sample sentences.",
)

xtts_samples_job = dg.define_asset_job(
    "render_xtts_samples",
    selection=dg.AssetSelection.assets(xtts_samples),
    description="Speak the voice config's sample sentences with its best (or configured) checkpoint.",
)

xtts_jobs = [export_xtts_job, train_xtts_job, xtts_samples_job]

# The assets of each job, which all take the voice config's path as run config.
XTTS_JOB_ASSETS = {
    "export_xtts": ["xtts_export"],
    "train_xtts": ["xtts_export", "xtts_checkpoint", "xtts_samples"],
    "render_xtts_samples": ["xtts_samples"],
}

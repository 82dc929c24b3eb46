"""Nightly training of the voices whose dataset changed since their last checkpoint."""

import dagster as dg

from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.qwen3.assets import qwen3_checkpoint, qwen3_codes, qwen3_samples
from tts_assets.defs.qwen3.jobs import TRAINING_RUN_TAGS
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.defs.xtts.assets import xtts_checkpoint, xtts_export, xtts_samples
from tts_assets.freshness import dataset_fingerprint, needs_training
from tts_assets.qwen3.paths import run_dir
from tts_assets.xtts.paths import voice_config_file, xtts_models_dir


QWEN3_ASSETS = [qwen3_codes, qwen3_checkpoint, qwen3_samples]
XTTS_ASSETS = [xtts_export, xtts_checkpoint, xtts_samples]

nightly_train_job = dg.define_asset_job(
    "nightly_train", selection=[*QWEN3_ASSETS, *XTTS_ASSETS], partitions_def=voice_partitions,
    tags=TRAINING_RUN_TAGS,
    description="A voice's models trained again on its changed dataset; each run selects one engine's assets.",
)


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=nightly_train_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_training(context: dg.ScheduleEvaluationContext, tts: TtsAssetsResource):
    """At 02:00 UTC, one run per voice and model whose aligned dataset differs from the one its
    newest checkpoint was trained on: Qwen3 for every voice, XTTS for voices with a
    `configs/tts/<voice>_xtts.yaml`. The run key is the dataset's fingerprint, so an unchanged voice
    is never retrained and missed nights do not pile up runs. XTTS trains a new run folder per
    dataset (`data-<fingerprint>`), from the base model, over the whole dataset."""
    layout = tts.layout()
    requests, skipped = [], []
    for voice in context.instance.get_dynamic_partitions(voice_partitions.name):
        due, why = needs_training(layout, voice, run_dir(layout, voice))
        fingerprint = dataset_fingerprint(layout, voice)
        if due:
            requests.append(dg.RunRequest(
                run_key=f"qwen3/{voice}/{fingerprint}", partition_key=voice,
                asset_selection=[a.key for a in QWEN3_ASSETS], tags={"tts_assets/reason": why},
            ))
        else:
            skipped.append(f"{voice} qwen3 ({why})")
        if not voice_config_file(voice).is_file():
            continue
        due, why = needs_training(layout, voice, xtts_models_dir(layout, voice))
        if due:
            config = {"config_file": str(voice_config_file(voice).resolve()), "run_name": f"data-{fingerprint}"}
            requests.append(dg.RunRequest(
                run_key=f"xtts/{voice}/{fingerprint}", partition_key=voice,
                asset_selection=[a.key for a in XTTS_ASSETS],
                run_config={"ops": {a.key.to_user_string(): {"config": config} for a in XTTS_ASSETS}},
                tags={"tts_assets/reason": why},
            ))
        else:
            skipped.append(f"{voice} xtts ({why})")
    if skipped:
        context.log.info(f"not training: {', '.join(skipped)}")
    return requests or dg.SkipReason(f"no voice needs training ({len(skipped)} up to date or without data)")

"""Nightly training of the voices whose dataset changed since their last checkpoint."""

import os
from datetime import datetime, timezone

import dagster as dg

from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.qwen3.assets import qwen3_checkpoint, qwen3_codes, qwen3_samples
from tts_assets.defs.qwen3.jobs import TRAINING_RUN_TAGS
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.defs.xtts.assets import xtts_checkpoint, xtts_export, xtts_samples
from tts_assets.errors import TtsAssetsError
from tts_assets.models.trained_on import dataset_fingerprint, needs_training
from tts_assets.qwen3.paths import run_dir
from tts_assets.settings import VoiceSettings
from tts_assets.xtts.paths import voice_config_file, xtts_models_dir


ENGINE_TAG = "tts_assets/engine"
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
QWEN3_ASSETS = [qwen3_codes, qwen3_checkpoint, qwen3_samples]
XTTS_ASSETS = [xtts_export, xtts_checkpoint, xtts_samples]

nightly_train_job = dg.define_asset_job(
    "nightly_train", selection=[*QWEN3_ASSETS, *XTTS_ASSETS], partitions_def=voice_partitions,
    tags=TRAINING_RUN_TAGS,
    description="A voice's models trained again on its changed dataset; each run selects one engine's assets.",
)


# When the nightly training looks for voices to train (UTC); a deployment may choose another hour.
TRAINING_CRON = os.environ.get("TTS_ASSETS_TRAINING_CRON", "0 2 * * *")


@dg.schedule(
    cron_schedule=TRAINING_CRON,
    job=nightly_train_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_training(context: dg.ScheduleEvaluationContext, tts: TtsAssetsResource):
    """At 02:00 UTC, one run per voice and model whose aligned dataset differs from the one its
    newest checkpoint finished training on: Qwen3 for every voice, XTTS for voices with a
    `<data root>/configs/tts/<voice>_xtts.yaml` (or the `xtts_config` of their `voice.yaml`), unless the
    voice's `engines` name fewer. A model counts as trained on its data only once a run has gone
    through all its epochs, so a failed or stopped run is asked for again the next night (the run key
    is the dataset's fingerprint and the night), unless that voice's run is still going. XTTS trains
    a new run folder per dataset (`data-<fingerprint>`), from the base model, over the whole dataset."""
    layout = tts.layout()
    night = (context.scheduled_execution_time or datetime.now(timezone.utc)).date().isoformat()
    requests, skipped = [], []
    for voice in context.instance.get_dynamic_partitions(voice_partitions.name):
        fingerprint = dataset_fingerprint(layout, voice)
        own = layout.voice_settings(voice)
        try:
            chosen = VoiceSettings.load(own) if own.is_file() else VoiceSettings()
        except TtsAssetsError as error:
            skipped.append(f"{voice} ({error})")
            continue
        wanted = chosen.engines or ["qwen3", "xtts"]
        xtts_config = voice_config_file(layout, voice)
        engines = [("qwen3", run_dir(layout, voice), QWEN3_ASSETS, None)] if "qwen3" in wanted else []
        if "xtts" in wanted and xtts_config.is_file():
            config = {"config_file": str(xtts_config.resolve()), "run_name": f"data-{fingerprint}"}
            engines.append(("xtts", xtts_models_dir(layout, voice), XTTS_ASSETS,
                            {"ops": {a.key.to_user_string(): {"config": config} for a in XTTS_ASSETS}}))
        for engine, model_dir, assets, run_config in engines:
            due, why = needs_training(layout, voice, model_dir)
            if due and _training_in_progress(context.instance, voice, engine):
                due, why = False, "its training run is still going"
            if not due:
                skipped.append(f"{voice} {engine} ({why})")
                continue
            requests.append(dg.RunRequest(
                run_key=f"{engine}/{voice}/{fingerprint}/{night}", partition_key=voice,
                asset_selection=[a.key for a in assets], run_config=run_config or {},
                tags={"tts_assets/reason": why, ENGINE_TAG: engine},
            ))
    if skipped:
        context.log.info(f"not training: {', '.join(skipped)}")
    return requests or dg.SkipReason(f"no voice needs training ({len(skipped)} up to date, running or without data)")


def _training_in_progress(instance: dg.DagsterInstance, voice: str, engine: str) -> bool:
    running = instance.get_run_records(dg.RunsFilter(
        job_name=nightly_train_job.name, tags={"dagster/partition": voice, ENGINE_TAG: engine},
        statuses=IN_PROGRESS), limit=1)
    return bool(running)

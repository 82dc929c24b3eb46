"""Nightly training of the voices whose dataset changed since their last checkpoint."""

import dagster as dg

from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.qwen3.jobs import nightly_qwen3_job
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.freshness import dataset_fingerprint, needs_training
from tts_assets.qwen3.paths import run_dir


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=nightly_qwen3_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_training(context: dg.ScheduleEvaluationContext, tts: TtsAssetsResource):
    """At 02:00 UTC, one run per voice whose aligned dataset differs from the one its newest
    checkpoint was trained on. The run key is the dataset's fingerprint, so an unchanged voice is
    never retrained and missed nights do not pile up runs."""
    layout = tts.layout()
    requests, skipped = [], []
    for voice in context.instance.get_dynamic_partitions(voice_partitions.name):
        due, why = needs_training(layout, voice, run_dir(layout, voice))
        if not due:
            skipped.append(f"{voice} ({why})")
            continue
        requests.append(dg.RunRequest(
            run_key=f"qwen3/{voice}/{dataset_fingerprint(layout, voice)}",
            partition_key=voice,
            tags={"tts_assets/reason": why},
        ))
    if skipped:
        context.log.info(f"not training: {', '.join(skipped)}")
    return requests or dg.SkipReason(f"no voice needs training ({len(skipped)} up to date or without data)")

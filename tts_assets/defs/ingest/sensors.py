"""New audiobooks in the inbox become partitions and runs; finished books refresh their voice."""


import json
import os

import dagster as dg

from tts_assets.defs.ingest.jobs import build_book_job, build_voice_dataset_job
from tts_assets.defs.partitions import book_partitions, voice_partitions
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.errors import TtsAssetsError
from tts_assets.dataset.inbox import adopt_voice_settings, ready_items, scan_inbox
from tts_assets.dataset.keys import claim_voice
from tts_assets.dataset.sources import register_book


# How often the inbox and the automation look for work; a busy inbox or an impatient test may
# want it sooner (each look is a directory scan and a few reads).
SENSOR_INTERVAL_S = int(os.environ.get("TTS_ASSETS_SENSOR_INTERVAL_S", "30"))


@dg.sensor(job=build_book_job, minimum_interval_seconds=SENSOR_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(context: dg.SensorEvaluationContext, tts: TtsAssetsResource) -> dg.SensorResult:
    """Books dropped into `<data_root>/inbox/<voice>/` start a build once they stop changing."""
    cursor = {"seen": {}, "submitted": {}, "noted": {}, **(json.loads(context.cursor) if context.cursor else {})}
    layout = tts.layout()
    scan = scan_inbox(layout, tts.settings().dataset.inputs.follow_outside_links)
    for voice, folder in scan.voices.items():  # before its books build, which read it
        try:
            if adopt_voice_settings(layout, voice, folder):
                context.log.info(f"inbox: voice {voice} settings taken from {folder / 'voice.yaml'}")
        except TtsAssetsError as error:
            scan.notes[str(folder / "voice.yaml")] = f"{error}; the last good settings stay"
    ready, seen_now = ready_items(scan.items, cursor["seen"], cursor["submitted"])
    requests, voices = [], set()
    for item in ready:
        try:
            claim_voice(layout, item.voice_name)
            register_book(layout, item.voice, item.source, item.book)
        except TtsAssetsError as error:
            scan.notes[item.source.path] = str(error)
            continue
        voices.add(item.voice)
        cursor["submitted"][f"{item.voice}/{item.book}"] = item.fingerprint
        requests.append(
            dg.RunRequest(
                run_key=f"{item.voice}/{item.book}/{item.fingerprint}",
                partition_key=dg.MultiPartitionKey({"voice": item.voice, "book": item.book}),
            )
        )
    for path, why in scan.notes.items():  # each once, while it stays so
        if cursor["noted"].get(path) != why:
            context.log.warning(f"inbox: {path} not used: {why}")
    cursor["noted"] = scan.notes
    waiting = [k for k in seen_now if k not in cursor["seen"] or cursor["seen"][k] != seen_now[k]]
    if waiting:
        context.log.info(f"waiting for files to stop changing: {', '.join(waiting)}")
    cursor["seen"] = seen_now
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            voice_partitions.build_add_request(sorted(voices)),
            book_partitions.build_add_request(sorted({r.partition_key.keys_by_dimension["book"] for r in requests})),
        ],
        cursor=json.dumps(cursor),
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    monitored_jobs=[build_book_job],
    request_job=build_voice_dataset_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def refresh_dataset_after_failed_book(context: dg.RunStatusSensorContext):
    """A book that could not be used still shows in its voice's rejections. (A finished book
    refreshes its voice through `voice_dataset`'s automation condition; a failed run materializes
    nothing that a condition could see.)"""
    voice = context.dagster_run.tags.get("dagster/partition/voice")
    if voice:
        yield dg.RunRequest(run_key=context.dagster_run.run_id, partition_key=voice)

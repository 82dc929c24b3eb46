"""The one Definitions object: every stage's assets, checks, jobs and sensors, with resources."""

import os

import dagster as dg

from tts_assets.defs.align import assets as align_assets
from tts_assets.defs.align import checks as align_checks
from tts_assets.defs.align.jobs import align_voice_job
from tts_assets.defs.align.sensors import dataset_automation
from tts_assets.defs.evaluate import checks as evaluation_checks
from tts_assets.defs.exports import assets as export_assets
from tts_assets.defs.exports.jobs import export_jobs
from tts_assets.defs.ingest import assets as ingest_assets
from tts_assets.defs.ingest import checks as ingest_checks
from tts_assets.defs.ingest.jobs import build_book_job, build_voice_dataset_job
from tts_assets.defs.ingest.sensors import inbox_sensor, refresh_dataset_after_failed_book
from tts_assets.defs.training.schedules import nightly_train_job, nightly_training
from tts_assets.defs.qwen3 import assets as qwen3_assets
from tts_assets.defs.qwen3.jobs import convert_qwen3_job, train_qwen3_job
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.defs.xtts import assets as xtts_assets
from tts_assets.defs.xtts import checks as xtts_checks
from tts_assets.defs.xtts.jobs import xtts_jobs

def _executor():
    """Per-step pods on Kubernetes (configs/deploy/k8s), so only GPU steps request a GPU."""
    if os.environ.get("TTS_ASSETS_EXECUTOR") == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return None


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest_assets, align_assets, qwen3_assets, xtts_assets, export_assets]),
    asset_checks=dg.load_asset_checks_from_modules([ingest_checks, align_checks, xtts_checks, evaluation_checks]),
    jobs=[
        build_book_job, build_voice_dataset_job, align_voice_job, convert_qwen3_job, train_qwen3_job,
        nightly_train_job, *xtts_jobs, *export_jobs,
    ],
    schedules=[nightly_training],
    sensors=[inbox_sensor, refresh_dataset_after_failed_book, dataset_automation],
    resources={"tts": TtsAssetsResource()},
    executor=_executor(),
)

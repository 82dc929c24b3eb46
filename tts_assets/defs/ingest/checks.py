"""Checks that fail visibly in the UI when the dataset breaks its contract."""

import dagster as dg
import soundfile as sf

from tts_assets.dataset.voice import check_accounting
from tts_assets.defs.ingest.assets import voice_dataset
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.manifest.io import read_jsonl


@dg.asset_check(asset=voice_dataset, blocking=True)
def accounting_identity(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Every segment is either in the manifest or in rejections.jsonl, never both, never neither."""
    passed, detail = check_accounting(tts.layout(), context.partition_key)
    return dg.AssetCheckResult(passed=passed, description=detail)


@dg.asset_check(asset=voice_dataset, blocking=True)
def clips_match_manifest(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Every manifest row's WAV exists with the sample rate and duration the row states."""
    layout = tts.layout()
    voice = context.partition_key
    problems = []
    rows = list(read_jsonl(layout.train_manifest(voice)))
    for row in rows:
        path = layout.dataset_dir(voice) / row["audio_file"]
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            problems.append(f"{row['audio_file']}: {exc}")
            continue
        if info.samplerate != row["sample_rate"] or abs(info.duration - row["duration"]) > 0.01:
            problems.append(f"{row['audio_file']}: {info.samplerate} Hz, {info.duration:.3f} s")
    return dg.AssetCheckResult(
        passed=not problems,
        description=f"{len(rows) - len(problems)} of {len(rows)} clips match" + (
            f"; e.g. {problems[:3]}" if problems else ""),
        metadata={"clips_checked": len(rows), "mismatches": len(problems)},
    )

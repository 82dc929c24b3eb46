"""The XTTS export's, checkpoint's and samples' contracts, checked after every materialization."""

import dagster as dg

from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.defs.xtts.assets import xtts_checkpoint, xtts_export, xtts_samples
from tts_assets.xtts import checks


def _result(outcome: tuple[bool, str], severity=dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    passed, description = outcome
    return dg.AssetCheckResult(passed=passed, description=description, severity=severity)


@dg.asset_check(asset=xtts_export, blocking=True)
def xtts_export_accounting(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Every aligned clip is exported or rejected, exactly once; coqui's own reader of the metadata
    files finds exactly the exported clips."""
    return _result(checks.export_accounting(tts.layout(), context.partition_key))


@dg.asset_check(asset=xtts_export, blocking=True)
def xtts_export_clips_valid(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Every exported clip is a mono 22.05 kHz WAV within coqui's length and token bounds."""
    return _result(checks.export_clips_valid(tts.layout(), context.partition_key))


@dg.asset_check(asset=xtts_checkpoint, blocking=True)
def xtts_checkpoint_sound(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """The training finished, its checkpoints exist and its losses are finite."""
    return _result(checks.checkpoint_sound(tts.layout(), context.partition_key))


@dg.asset_check(asset=xtts_samples)
def xtts_samples_audible(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Every sample is finite, non-silent 24 kHz audio (a warning: listening is the real check)."""
    return _result(checks.samples_audible(tts.layout(), context.partition_key), dg.AssetCheckSeverity.WARN)

"""The aligned dataset's contract, checked after every materialization."""

import dagster as dg

from tts_assets.dataset.aligned_checks import accounting, durations_in_bounds, words_cover_text
from tts_assets.defs.align.assets import aligned_dataset
from tts_assets.defs.resources import TtsAssetsResource


def _result(outcome: tuple[bool, str]) -> dg.AssetCheckResult:
    passed, description = outcome
    return dg.AssetCheckResult(passed=passed, description=description)


@dg.asset_check(asset=aligned_dataset, blocking=True)
def aligned_accounting(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Every clip of train_manifest.jsonl is kept or rejected exactly once (or each of its parts, when split)."""
    return _result(accounting(tts.layout(), context.partition_key))


@dg.asset_check(asset=aligned_dataset, blocking=True)
def aligned_words_cover_text(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """Each kept clip's aligned words are exactly its text's words, inside the clip, in order."""
    return _result(words_cover_text(tts.layout(), context.partition_key))


@dg.asset_check(asset=aligned_dataset, blocking=True)
def aligned_durations_in_bounds(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """No kept clip is shorter or longer than the configured bounds."""
    return _result(durations_in_bounds(tts.layout(), context.partition_key, tts.settings(context.partition_key).dataset))

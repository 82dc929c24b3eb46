"""The one way a step reports the user's mistake: its one-line message, no traceback, no retry
(the same input would fail the same way)."""

import dagster as dg

from tts_assets.errors import TtsAssetsError


def step_failure(error: TtsAssetsError) -> dg.Failure:
    return dg.Failure(description=str(error), allow_retries=False)

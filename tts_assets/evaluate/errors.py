"""Evaluation errors: one type per kind of user error, each a one-line message naming the file."""

from __future__ import annotations

from pathlib import Path

from tts_assets.errors import TtsAssetsError


class EvaluationError(TtsAssetsError):
    """A checkpoint, reference clip, sentence list or speaker model that evaluation cannot use."""

    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause

"""Evaluation errors: one type per kind of user error, each a one-line message naming the file."""

from __future__ import annotations

from tts_assets.errors import PathError


class EvaluationError(PathError):
    """A checkpoint, reference clip, sentence list or speaker model that evaluation cannot use."""

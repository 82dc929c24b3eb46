"""XTTS errors: one type per kind of user error, each a one-line message naming the file."""

from __future__ import annotations

from tts_assets.errors import PathError


class XttsConfigError(PathError):
    """The voice config (or a base-model file it names) cannot be used."""


class XttsDataError(PathError):
    """The dataset to export, or the export to train on, is missing or empty."""

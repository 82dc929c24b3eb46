"""One exception type per kind of user error; messages name the file and the cause."""

from pathlib import Path


class TtsAssetsError(Exception):
    """A problem with the user's input or setup, reported as one line (no traceback)."""


class UnreadableAudioError(TtsAssetsError):
    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: cannot read audio ({cause})")
        self.path = Path(path)
        self.cause = cause


class InputFileError(TtsAssetsError):
    """A transcripts/segments file or folder that cannot be used at all."""

    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


class ModelNotFoundError(TtsAssetsError):
    def __init__(self, name_or_path: str, cause: str):
        super().__init__(f"model {name_or_path!r}: {cause}")


class InvalidNameError(TtsAssetsError, ValueError):
    """A voice or book name that gives no usable key (nothing to key, or too long for a file name)."""


class KeyCollisionError(TtsAssetsError):
    """Two different voices (or sources) that would share one key, and so one folder."""

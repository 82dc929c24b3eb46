"""One exception type per kind of user error; messages name the file and the cause. Every one is
a `TtsAssetsError`, which the command line and the Dagster layer report as one line."""

from __future__ import annotations

from pathlib import Path


class TtsAssetsError(Exception):
    """A problem with the user's input or setup, reported as one line (no traceback)."""

    def __reduce__(self):
        # Raised in the build's own processes (finishing, measuring) and again in the caller's:
        # rebuilt as it was, without its __init__ (whose arguments differ by kind).
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(kind: type, args: tuple, state: dict) -> TtsAssetsError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class PathError(TtsAssetsError):
    """A problem with one file or folder: `<path>: <cause>`."""

    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


class UnreadableAudioError(PathError):
    def __init__(self, path: Path | str, cause: str):
        super().__init__(path, f"cannot read audio ({cause})")
        self.cause = cause


class InputFileError(PathError):
    """A transcripts/segments/settings file or folder that cannot be used at all."""


class CheckpointNotFoundError(PathError):
    """A model folder without the checkpoint asked for."""


class ModelNotFoundError(TtsAssetsError):
    def __init__(self, name_or_path: str, cause: str):
        super().__init__(f"model {name_or_path!r}: {cause}")


class SettingsError(TtsAssetsError):
    """Settings that are each valid but cannot work together (an aligner for another language)."""


class InvalidNameError(TtsAssetsError, ValueError):
    """A voice or book name that gives no usable key (nothing to key, or too long for a file name)."""


class KeyCollisionError(TtsAssetsError):
    """Two different voices (or sources) that would share one key, and so one folder."""


class TrainingDivergedError(PathError):
    """A loss (or the weights about to be saved) went NaN/inf; nothing after the last good
    checkpoint was saved."""

    def __init__(self, run_dir: Path | str, step: int, what: str, last_good: Path | None, remedy: str):
        kept = f"last good checkpoint kept: {last_good}" if last_good else "no checkpoint had been saved yet"
        super().__init__(run_dir, f"training stopped at step {step}: {what} is not finite ({kept}); {remedy}")
        self.step = step
        self.last_good = last_good


class TrainingProcessError(TtsAssetsError):
    """One of the processes of a training run on several GPUs refused (its own one-line error) or died."""

    def __init__(self, rank: int, processes: int, cause: str):
        super().__init__(f"training process {rank} of {processes}: {cause}")
        self.rank = rank


class EvaluationError(PathError):
    """A checkpoint, reference clip, sentence list or speaker model that evaluation cannot use."""


def encodable(text: str) -> str:
    """`text` with what UTF-8 cannot encode (the surrogate escapes of a file name that is not UTF-8,
    a lone surrogate sent as `"\\ud800"`) backslash-escaped, as Python shows it."""
    return text.encode("utf-8", "backslashreplace").decode()

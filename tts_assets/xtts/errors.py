"""XTTS errors: one type per kind of user error, each a one-line message naming the file."""

from __future__ import annotations

from pathlib import Path

from tts_assets.errors import TtsAssetsError


class XttsConfigError(TtsAssetsError):
    """The voice config (or a base-model file it names) cannot be used."""

    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


class XttsDataError(TtsAssetsError):
    """The dataset to export, or the export to train on, is missing or empty."""

    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)
        self.cause = cause


class TrainingDivergedError(TtsAssetsError):
    """A loss (or the weights about to be saved) went NaN/inf; nothing after the last good
    checkpoint was saved."""

    def __init__(self, run_dir: Path | str, step: int, what: str, last_good: Path | None):
        kept = f"last good checkpoint kept: {last_good}" if last_good else "no checkpoint had been saved yet"
        super().__init__(
            f"{run_dir}: training stopped at step {step}: {what} is not finite ({kept}); "
            "lower training.lr, keep training.mixed_precision off, or check the clips"
        )
        self.run_dir = Path(run_dir)
        self.step = step
        self.last_good = last_good


class CheckpointNotFoundError(TtsAssetsError):
    def __init__(self, path: Path | str, cause: str):
        super().__init__(f"{path}: {cause}")
        self.path = Path(path)

"""Atomic file writes: write beside the target, fsync, then rename over it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: the process's umask, restored at once


TEMPORARY_SUFFIX = ".tmp"


def is_temporary(path: Path) -> bool:
    """Whether `path` is the temporary file of an atomic write (`.<name>.<random>.tmp`)."""
    return path.name.startswith(".") and path.name.endswith(TEMPORARY_SUFFIX)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `target`.

    A crash at any moment leaves either the old file or the new one, never half of one;
    the temporary name starts with `.` and ends with `.tmp` so readers never pick it up.
    The file gets the permissions a plain `open` would give (mkstemp's are owner-only, which
    would lock out a daemon or pod running as another user).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_wav_atomic(target: Path, samples: np.ndarray, sample_rate: int, subtype: str) -> None:
    import soundfile as sf  # here, so that importing atomic writes loads no audio library

    with atomic_path(target) as tmp:
        sf.write(tmp, samples, sample_rate, subtype=subtype, format="WAV")

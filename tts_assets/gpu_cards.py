"""One GPU step per card on a machine with several.

Dagster's `gpu` pool bounds how many GPU steps run at once, but not which card each uses: without
this, every step would open cuda:0. A step holds a card by an exclusive `flock` on
`<lock dir>/card-<id>.lock`, chosen among the cards no other process holds, and narrows
`CUDA_VISIBLE_DEVICES` to it before torch or CTranslate2 start CUDA. The kernel drops the lock when
the process ends, killed or not, so a crashed step never keeps a card. The lock folder is local to
the machine (the cards are), shared by every process on it: daemon runs and `tts-assets` commands
take turns on a card instead of sharing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "TTS_ASSETS_GPU_LOCKS"
POLL_S = 1.0

_given: list[str] | None = None  # the cards this process was given, read before it narrows them
_pinned: str | None = None  # the card CUDA may already be using in this process
_held: dict[str, int] = {}  # card → lock file descriptor, while a claim is open
_depth: dict[str, int] = {}


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "tts_assets_gpu_locks")


def given_cards() -> list[str]:
    """The cards this process may use: `CUDA_VISIBLE_DEVICES` when set (a scheduler's choice; CUDA
    reads it up to the first negative entry), else every card `nvidia-smi` lists; none without one."""
    global _given
    if _given is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            _given = []
            for entry in (e.strip() for e in visible.split(",")):
                if not entry or entry.startswith("-"):
                    break
                _given.append(entry)
        else:
            _given = _listed_by_nvidia_smi()
    return _given


def _listed_by_nvidia_smi() -> list[str]:
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def _try_lock(card: str) -> int | None:
    folder = lock_dir()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # shared like /tmp: any user's steps take cards
            folder.chmod(0o1777)
    # Read-only is enough for flock, so a lock file another user created serves as well.
    descriptor = os.open(folder / f"card-{card.replace('/', '_')}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextlib.contextmanager
def claimed_card(poll_s: float = POLL_S) -> Iterator[str | None]:
    """Hold a card for the block and make it the only one CUDA sees here; yields its id, or None on a
    machine without cards. Waits while every card is held. A process keeps the card it first took
    (CUDA, once started, cannot switch), and a claim inside a claim shares the outer one."""
    global _pinned
    cards = given_cards()
    if not cards:
        yield None
        return
    choices = [_pinned] if _pinned else cards
    card = next((c for c in choices if c in _held), None)
    waited = False
    while card is None:
        for candidate in choices:
            descriptor = _try_lock(candidate)
            if descriptor is not None:
                card, _held[candidate] = candidate, descriptor
                break
        else:
            if not waited:
                log.info("waiting for a free GPU: %s held by other steps", ", ".join(choices))
                waited = True
            time.sleep(poll_s)
    _depth[card] = _depth.get(card, 0) + 1
    if _pinned is None:
        os.environ["CUDA_VISIBLE_DEVICES"] = card
        _pinned = card
    try:
        yield card
    finally:
        _depth[card] -= 1
        if not _depth[card]:
            os.close(_held.pop(card))

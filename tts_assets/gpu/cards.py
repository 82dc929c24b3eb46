"""One GPU step per card on a machine with several.

Dagster's `gpu` pool bounds how many GPU steps run at once, but not which card each uses: without
this, every step would open cuda:0. A step takes a card by an exclusive `flock` on
`<lock dir>/card-<id>.lock`, among the cards no other process holds, and narrows
`CUDA_VISIBLE_DEVICES` to it before torch or CTranslate2 start CUDA. A process keeps its card until
it ends (CUDA, once started, could not move anyway), when the kernel drops the lock, killed or not:
a step of Dagster's multiprocess executor is a process of its own, and a `tts-assets` command runs
a job's steps in one process, which then keeps one card for all of them. The lock folder is the
machine's, shared by every process and user on it, so daemon runs and commands take turns on a card.
A step training on several cards (`qwen3.gpus`) takes them all at once or waits, holding none of
the missing ones meanwhile, so two such steps never each keep half of what the other needs.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
from pathlib import Path

from tts_assets.errors import SettingsError
from tts_assets.gpu.libraries import driver_present

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "TTS_ASSETS_GPU_LOCKS"
HELD_ENV = "TTS_ASSETS_GPU_CARD"  # the cards a process holds (comma-separated), for its children to use too
POLL_S = 1.0

_given: list[str] | None = None  # the cards this process was given, read before it narrows them
_held: list[str] = []
_lock_descriptors: list[int] = []  # kept open until the process ends: closing one frees its card


def lock_dir() -> Path:
    if os.environ.get(LOCK_DIR_ENV):
        return Path(os.environ[LOCK_DIR_ENV])
    # /run/lock, unlike /tmp, is not private to a systemd service (PrivateTmp) or a user ($TMPDIR).
    base = Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path("/tmp")
    return base / "tts_assets_gpus"


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
    except (OSError, subprocess.SubprocessError) as error:
        if driver_present():
            log.warning("nvidia-smi could not list the GPUs (%s): steps choose no card", error)
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def _open_lock_file(path: Path) -> int:
    """Open the lock file, creating it only when it is missing: in a shared sticky folder Linux
    refuses O_CREAT on another user's existing file (fs.protected_regular). Read-only is enough
    for flock."""
    while True:
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        try:
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue  # another process created it first: open theirs


def _lock_folder() -> Path:
    folder = lock_dir()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:  # shared like /tmp, so any user's steps take cards from the same locks
            folder.chmod(0o1777)
        except PermissionError:
            pass  # another user made it a moment ago, and sets its mode
    return folder


def _try_lock(folder: Path, card: str) -> int | None:
    descriptor = _open_lock_file(folder / f"card-{card.replace('/', '_')}.lock")
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def hold_a_card(poll_s: float = POLL_S) -> str | None:
    """Take a card no other process holds, for the rest of this process, and make it the only one
    CUDA sees; return its id (the same on every later call), or None on a machine without cards.
    Waits while every card is held. A child of a process holding a card uses that card."""
    held = hold_cards(1, poll_s)
    return held[0] if held else None


def hold_cards(count: int, poll_s: float = POLL_S) -> list[str]:
    """`hold_a_card` for `count` cards: this process's first `count` cards, taking the ones it
    lacks together once that many are free; CUDA then sees every card it holds. [] on a machine
    without cards; a SettingsError when it is given fewer than `count`."""
    global _held
    if not _held and os.environ.get(HELD_ENV):
        _held = os.environ[HELD_ENV].split(",")
    if len(_held) >= count:
        return _held[:count]
    cards = given_cards()
    if not cards:
        return []
    if len(cards) < count:
        raise SettingsError(f"{count} GPUs asked for, but this process is given {len(cards)}: {', '.join(cards)}")
    folder = _lock_folder()
    waited = False
    while True:
        taken = _take(folder, [card for card in cards if card not in _held], count - len(_held))
        if taken:
            _held = _held + [card for card, _ in taken]
            _lock_descriptors.extend(descriptor for _, descriptor in taken)
            if "CUDA_VISIBLE_DEVICES" not in os.environ:  # cards as nvidia-smi numbers them
                os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
            os.environ.update(CUDA_VISIBLE_DEVICES=",".join(_held), **{HELD_ENV: ",".join(_held)})
            return _held[:count]
        if not waited:
            wanted = ("a free GPU" if count == 1 else f"{count - len(_held)} more free GPU(s)" if _held
                      else f"{count} free GPUs")
            log.info("waiting for %s: %s held by other processes", wanted, ", ".join(cards))
            waited = True
        time.sleep(poll_s)


def _take(folder: Path, cards: list[str], count: int) -> list[tuple[str, int]]:
    """`count` of `cards` locked, or none (the few it got are let go again)."""
    taken = []
    for card in cards:
        descriptor = _try_lock(folder, card)
        if descriptor is not None:
            taken.append((card, descriptor))
            if len(taken) == count:
                return taken
    for _, descriptor in taken:
        os.close(descriptor)
    return []

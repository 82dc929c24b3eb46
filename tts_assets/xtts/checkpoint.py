"""XTTS checkpoints on disk: listing across a voice's runs, the best one, pruning (the same jobs as
`qwen3/checkpoint.py`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

from tts_assets.atomic import atomic_path
from tts_assets.layout import DataLayout
from tts_assets.xtts import paths
from tts_assets.xtts.base_model import read_checkpoint

CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)\.pth$")
BEST_LINK = "best_model.pth"
BEST_RECORD = "best.json"


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """`checkpoint_<step>.pth` files of a run, oldest first (temporary `.tmp` files never match)."""
    found = []
    if run_dir.is_dir():
        for path in run_dir.iterdir():
            match = CHECKPOINT_RE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return sorted(found)


def last_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1][1] if found else None


def voice_checkpoints(layout: DataLayout, voice: str) -> list[Path]:
    """Checkpoints of every run of the voice (the nightly schedule trains a folder per dataset, its
    steps counting from 0 again), oldest written first."""
    found = []
    models = paths.xtts_models_dir(layout, voice)
    for run in sorted(models.iterdir()) if models.is_dir() else []:
        for _, checkpoint in checkpoints(run) if run.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):  # pruned meanwhile
                found.append((checkpoint.stat().st_mtime, checkpoint))
    return [checkpoint for _, checkpoint in sorted(found)]


def newest_run_dir(layout: DataLayout, voice: str, default_run: str) -> Path:
    """The run folder holding the voice's most recently written checkpoint, else the default run's."""
    found = voice_checkpoints(layout, voice)
    return found[-1].parent if found else paths.run_dir(layout, voice, default_run)


def best_checkpoint(run_dir: Path) -> Path | None:
    path = run_dir / BEST_LINK
    return path if path.is_file() else None


def read_best(run_dir: Path) -> dict | None:
    path = run_dir / BEST_RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def checkpoint_info(path: Path) -> dict:
    """step (batches), epoch (finished epochs), optimizer steps and losses of a checkpoint, read
    memory-mapped (the weights are not loaded). Checkpoints written before the optimizer steps were
    stored give the LR scheduler's count, which is stepped with the optimizer."""
    checkpoint = read_checkpoint(path)
    optimizer_steps = checkpoint.get("optimizer_steps")
    if optimizer_steps is None:
        schedulers = checkpoint.get("scheduler") or []
        if schedulers and isinstance(schedulers[0], dict) and "last_epoch" in schedulers[0]:
            optimizer_steps = schedulers[0]["last_epoch"]
    return {"step": int(checkpoint["step"]), "epoch": int(checkpoint["epoch"]),
            "optimizer_steps": int(optimizer_steps) if optimizer_steps is not None else None,
            "model_loss": checkpoint.get("model_loss")}


def prune_checkpoints(run_dir: Path, keep: int, protect: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` checkpoints (best_model.pth is a separate link), sparing
    `protect` (the one promoted for serving)."""
    removed = []
    for _, path in checkpoints(run_dir)[:-keep]:
        if protect is not None and path.resolve() == protect.resolve():
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def link_or_copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

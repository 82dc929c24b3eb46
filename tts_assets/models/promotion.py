"""The promoted checkpoint (`latest.json`) and the evaluation history (`evaluations.jsonl`).

Only a checkpoint that passed its evaluation is promoted; the server speaks with the promoted one.
Both files are written atomically (temporary file + rename): a reader sees the old record or the
new one, never half of one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tts_assets.atomic import write_text_atomic
from tts_assets.models import paths
from tts_assets.errors import EvaluationError
from tts_assets.layout import DataLayout


def read_promoted(layout: DataLayout, voice: str, engine: str) -> dict | None:
    """The promotion record with `path` (absolute) added, or None when nothing was promoted.

    A record whose checkpoint no longer exists (pruned, deleted) counts as none."""
    record_file = paths.promoted_record(layout, voice, engine)
    try:
        record = json.loads(record_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EvaluationError(record_file, f"unreadable promotion record ({exc})") from exc
    path = Path(record.get("checkpoint", ""))
    path = path if path.is_absolute() else paths.engine_dir(layout, voice, engine) / path
    if not record.get("checkpoint") or not path.exists():
        return None
    return {**record, "path": str(path)}


def promote(layout: DataLayout, voice: str, engine: str, checkpoint: Path, evaluation: dict | None = None) -> Path:
    """Record `checkpoint` as the served one (also usable by hand, e.g. to roll back)."""
    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise EvaluationError(checkpoint, "no such checkpoint to promote")
    record = {
        "voice": voice,
        "engine": engine,
        "checkpoint": paths.checkpoint_id(layout, voice, engine, checkpoint),
        "step": step_of(checkpoint),
        "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "figures": (evaluation or {}).get("figures"),
        "thresholds": (evaluation or {}).get("thresholds"),
    }
    target = paths.promoted_record(layout, voice, engine)
    write_text_atomic(target, json.dumps(record, indent=2) + "\n")
    return target


def step_of(checkpoint: Path) -> int | None:
    """The training step in a checkpoint's name (`checkpoint-120`, `checkpoint_120.pth`)."""
    digits = "".join(ch if ch.isdigit() else " " for ch in Path(checkpoint).name).split()
    return int(digits[-1]) if digits else None


def read_history(layout: DataLayout, voice: str, engine: str, last: int | None = None) -> list[dict]:
    history = paths.history_file(layout, voice, engine)
    try:
        rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise EvaluationError(history, f"unreadable evaluation history ({exc})") from exc
    return rows[-last:] if last else rows


def append_history(layout: DataLayout, voice: str, engine: str, row: dict) -> Path:
    """Add one evaluation to the history (the whole small file is rewritten atomically)."""
    history = paths.history_file(layout, voice, engine)
    old = history.read_text() if history.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    write_text_atomic(history, old + json.dumps(row) + "\n")
    return history

"""Where evaluations and the promoted ("latest") checkpoint live, per voice and engine.

`<data_root>/models/<voice>/<engine>/` is the engine's run folder (`qwen3/` holds the Qwen3
checkpoints, `xtts/` the XTTS runs); beside the checkpoints:

    latest.json                     the promoted checkpoint the server speaks with
    evaluations.jsonl               one line per evaluation, oldest first (the trend)
    evaluations/<checkpoint>/       report.json and the WAVs the figures were measured on
"""

from __future__ import annotations

from pathlib import Path

from tts_assets.layout import DataLayout


def engine_dir(layout: DataLayout, voice: str, engine: str) -> Path:
    return layout.models_dir(voice) / engine


def promoted_record(layout: DataLayout, voice: str, engine: str) -> Path:
    return engine_dir(layout, voice, engine) / "latest.json"


def history_file(layout: DataLayout, voice: str, engine: str) -> Path:
    return engine_dir(layout, voice, engine) / "evaluations.jsonl"


def checkpoint_id(layout: DataLayout, voice: str, engine: str, checkpoint: Path) -> str:
    """The checkpoint relative to the engine folder (`checkpoint-120`, `run/checkpoint_9.pth`), so
    records stay valid when the data root moves."""
    base = engine_dir(layout, voice, engine).resolve()
    try:
        return Path(checkpoint).resolve().relative_to(base).as_posix()
    except ValueError:
        return str(Path(checkpoint).resolve())


def evaluation_dir(layout: DataLayout, voice: str, engine: str, checkpoint: Path) -> Path:
    """A folder per checkpoint: `checkpoint-120`, `run__checkpoint_9` (a file's suffix dropped, so
    no folder looks like a weights file)."""
    ident = checkpoint_id(layout, voice, engine, checkpoint).strip("/")
    if Path(checkpoint).is_file():
        ident = ident[: -len(Path(ident).suffix)] if Path(ident).suffix else ident
    name = ident.replace("/", "__")
    return engine_dir(layout, voice, engine) / "evaluations" / name


def report_file(layout: DataLayout, voice: str, engine: str, checkpoint: Path) -> Path:
    return evaluation_dir(layout, voice, engine, checkpoint) / "report.json"

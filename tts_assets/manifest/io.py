"""JSONL and Parquet manifests, written atomically and read lazily."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tts_assets.atomic import atomic_path, is_temporary


def write_jsonl(target: Path, rows: Iterable[dict]) -> int:
    count = 0
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def write_parquet(target: Path, rows: list[dict], schema: pa.Schema | None = None) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)


def temporary_files(folder: Path) -> set[Path]:
    """The temporary files of atomic writes under `folder`."""
    return {p for p in folder.rglob("*") if is_temporary(p) and p.is_file()} if folder.is_dir() else set()


def remove_unreferenced(folder: Path, keep: set[Path], leftovers: set[Path] = frozenset()) -> None:
    """Delete files under `folder` that no manifest lists any more.

    A temporary file of an atomic write may be another run's write in progress, so it stays,
    unless it is one of `leftovers` (`temporary_files` taken before the caller began writing):
    a write lasts a moment, so one still there after all of the caller's writes is a killed run's.
    """
    if folder.is_dir():
        for path in folder.rglob("*"):
            spared = path in keep or (is_temporary(path) and path not in leftovers)
            if path.is_file() and not spared:
                path.unlink(missing_ok=True)  # another run's cleanup may have been first

"""JSONL and Parquet manifests, written atomically and read lazily."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tts_assets.atomic import atomic_path


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


def remove_unreferenced(folder: Path, keep: set[Path]) -> None:
    """Delete files under `folder` that no manifest lists any more (and temporary leftovers)."""
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file() and path not in keep:
                path.unlink()

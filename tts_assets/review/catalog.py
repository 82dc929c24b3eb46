"""What the review page lists for a voice: every clip of the aligned dataset and every rejection
(aligned stage and earlier), filtered, sorted and paged on the server; clip ids mapped to files here.

A voice's lists are read once and kept until one of their files changes, so a 20,000-clip voice
pages in tens of milliseconds after the first read.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import soundfile as sf

from tts_assets.dataset.decisions import RESTORABLE, clip_id, latest_by_clip, read_decisions
from tts_assets.layout import DataLayout
from tts_assets.manifest.schema import Reason
from tts_assets.qwen3.paths import samples_dir as qwen3_samples_dir
from tts_assets.xtts.paths import samples_dir as xtts_samples_dir

# Sort keys offered first, when the dataset has them (others join as they appear in the rows).
PREFERRED_SORTS = ("align_score", "quality_dnsmos_ovrl", "speaker_similarity", "seconds_per_char", "duration")
NOT_SCORES = {"start", "end", "sample_rate", "normalization_candidates", "line"}
PEAKS = 160  # waveform columns drawn per clip


@dataclass(frozen=True)
class Query:
    status: str = ""  # kept | rejected | "" (both)
    book: str = ""
    split: str = ""
    reason: str = ""
    text: str = ""  # case-insensitive substring of the clip's text
    sort: str = "align_score"
    descending: bool = False  # ascending: the worst clips first
    range_column: str = ""
    low: float | None = None
    high: float | None = None
    page: int = 1
    page_size: int = 50


@dataclass
class VoiceCatalog:
    dataset_dir: Path
    entries: list[dict]
    decidable: dict[str, dict]  # clip id → its row of the aligned stage (kept or rejected)
    audio: dict[str, str]  # clip id → the WAV the page plays, relative to the dataset folder
    numeric_columns: list[str]
    books: list[str]
    reasons: list[str]
    decisions_read: int  # decision lines the aligned dataset applied
    built: float  # mtime of the aligned dataset

    def audio_path(self, clip: str) -> Path | None:
        """The WAV of a clip the catalog lists (None for any other id), inside the dataset folder."""
        relative = self.audio.get(clip)
        if relative is None:
            return None
        path = (self.dataset_dir / relative).resolve()
        return path if path.is_relative_to(self.dataset_dir.resolve()) and path.is_file() else None

    def select(self, query: Query) -> tuple[int, list[dict]]:
        """(matching rows, the query's page of them)."""
        rows = self.entries
        if query.status:
            rows = [r for r in rows if r["status"] == query.status]
        if query.book:
            rows = [r for r in rows if r["book"] == query.book]
        if query.split:
            rows = [r for r in rows if r.get("split") == query.split]
        if query.reason:
            rows = [r for r in rows if r.get("reason") == query.reason]
        if query.text:
            needle = query.text.casefold()
            rows = [r for r in rows if needle in r["_search"]]
        if query.range_column and (query.low is not None or query.high is not None):
            low = -math.inf if query.low is None else query.low
            high = math.inf if query.high is None else query.high
            rows = [r for r in rows if _number(r.get(query.range_column)) is not None
                    and low <= r[query.range_column] <= high]
        present = [r for r in rows if _number(r.get(query.sort)) is not None]
        absent = [r for r in rows if _number(r.get(query.sort)) is None]  # last, whatever the order
        present.sort(key=lambda r: r[query.sort], reverse=query.descending)
        ordered = present + absent
        start = (query.page - 1) * query.page_size
        return len(ordered), ordered[start:start + query.page_size]


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def _read_kept(layout: DataLayout, voice: str) -> list[dict]:
    """The aligned rows without their word times: from the Parquet copy when it is the JSONL's
    (written after it by the same build), several times faster than parsing every line's words."""
    manifest, parquet = layout.aligned_manifest(voice), layout.aligned_parquet(voice)
    if parquet.is_file() and manifest.is_file() and parquet.stat().st_mtime_ns >= manifest.stat().st_mtime_ns:
        columns = [name for name in pq.read_schema(parquet).names if name != "words"]
        if columns:
            return pq.read_table(parquet, columns=columns).to_pylist()
    return _read_rows(manifest)


def _stamp(paths: list[Path]) -> tuple:
    return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None for p in paths)


def _build(layout: DataLayout, voice: str) -> VoiceCatalog:
    dataset_dir = layout.dataset_dir(voice)
    entries, decidable, audio = [], {}, {}
    kept = _read_kept(layout, voice)
    # One build writes every row with the same columns: the first rows tell which hold numbers.
    numeric = {k for row in kept[:1000] for k, v in row.items() if _number(v) is not None and k not in NOT_SCORES}
    for row in kept:
        row.pop("words", None)  # the page shows text, not word times
        ident = clip_id(row)
        entries.append({**row, "id": ident, "status": "kept", "stage": "aligned", "reason": None, "playable": True,
                        "restorable": False})
        decidable[ident] = row
        audio[ident] = row["audio_file"]
    for row in _read_rows(layout.aligned_rejections(voice)):
        ident = clip_id(row)
        path = dataset_dir / row["audio_file"] if row.get("audio_file") else None
        exists = path is not None and path.is_file()
        duration = row["end"] - row["start"] if row.get("start") is not None and row.get("end") is not None else None
        entries.append({**row, "id": ident, "status": "rejected", "stage": "aligned", "duration": duration,
                        "playable": exists, "restorable": exists and Reason(row["reason"]) in RESTORABLE})
        decidable[ident] = row
        if exists:
            audio[ident] = row["audio_file"]
    for row in _read_rows(layout.rejections(voice)):  # earlier stages: no clip was cut
        duration = row["end"] - row["start"] if row.get("start") is not None and row.get("end") is not None else None
        entries.append({**row, "id": clip_id(row) if row.get("segment_ids") else f"{row.get('book')}/line{row.get('line')}",
                        "status": "rejected", "stage": "dataset", "duration": duration, "playable": False,
                        "restorable": False, "text": row.get("text") or ""})
    for entry in entries:
        entry["_search"] = (entry.get("text") or "").casefold()
    summary = layout.aligned_summary(voice)
    decisions_read = json.loads(summary.read_text()).get("review_decisions_read", 0) if summary.is_file() else 0
    manifest = layout.aligned_manifest(voice)
    return VoiceCatalog(
        dataset_dir=dataset_dir, entries=entries, decidable=decidable, audio=audio,
        numeric_columns=[c for c in PREFERRED_SORTS if c in numeric] + sorted(numeric - set(PREFERRED_SORTS)),
        books=sorted({e["book"] for e in entries if e.get("book")}),
        reasons=sorted({e["reason"] for e in entries if e.get("reason")}),
        decisions_read=decisions_read, built=manifest.stat().st_mtime if manifest.is_file() else 0.0,
    )


@dataclass
class Catalogs:
    """Each voice's catalog, rebuilt when its manifests or summary change."""

    layout: DataLayout
    _cache: dict[str, tuple[tuple, VoiceCatalog]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def voices(self) -> list[str]:
        datasets = self.layout.root / "datasets"
        if not datasets.is_dir():
            return []
        return sorted(p.name for p in datasets.iterdir() if (p / "train_aligned.jsonl").is_file())

    def get(self, voice: str) -> VoiceCatalog:
        files = [self.layout.aligned_manifest(voice), self.layout.aligned_parquet(voice), self.layout.aligned_rejections(voice),
                 self.layout.rejections(voice), self.layout.aligned_summary(voice)]
        stamp = _stamp(files)
        with self._lock:
            cached = self._cache.get(voice)
            if cached and cached[0] == stamp:
                return cached[1]
            catalog = _build(self.layout, voice)
            self._cache[voice] = (stamp, catalog)
            return catalog

    def pending(self, voice: str) -> dict[str, dict]:
        """The latest decision of each clip decided after the aligned dataset was built."""
        decisions = read_decisions(self.layout.review_decisions(voice))
        return latest_by_clip(decisions[self.get(voice).decisions_read:])

    def samples(self, voice: str) -> dict[str, Path]:
        """Checkpoint samples of the voice (Qwen3 and XTTS), by their path under the voice's models folder."""
        models = self.layout.models_dir(voice)
        # The engines' own sample folders, with wildcards for the checkpoint (and XTTS's run and step).
        folders = (qwen3_samples_dir(self.layout, voice, "*"), xtts_samples_dir(self.layout, voice, "*", "*"))
        found = [path for folder in folders for path in sorted(models.glob(f"{folder.relative_to(models)}/*.wav"))]
        return {path.relative_to(models).as_posix(): path for path in found}


@lru_cache(maxsize=4096)
def _peaks(path: str, stamp: tuple) -> list[float]:
    audio, _ = sf.read(path, dtype="float32", always_2d=True)
    mono = np.abs(audio).max(axis=1)
    if not len(mono):
        return []
    columns = np.array_split(mono, min(PEAKS, len(mono)))
    return [round(float(c.max()), 3) for c in columns]


def peaks(path: Path) -> list[float]:
    """The loudest sample of each of PEAKS equal stretches of the clip (0-1), for its waveform."""
    return _peaks(str(path), _stamp([path]))

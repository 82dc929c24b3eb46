"""DNSMOS P.835 (SIG, BAK, OVRL) for clips, offline, on all the cores.

The model is Microsoft's DNS-Challenge ONNX model that the `speechmos` package ships
(`dnsmos_models/sig_bak_ovr.onnx`, MIT). The preprocessing and the polynomial mapping are those of
Microsoft's `dnsmos_local.py` (and speechmos's copy of it), so scores compare with published ones
(Emilia keeps OVRL >= 3.0): 16 kHz audio; a clip shorter than 9.01 s is repeated (doubled) until it
is that long; the model rates every 9.01 s window at a 1 s hop; each window's raw scores are mapped
by the *non-personalized* polynomials and the clip's score is the mean over its windows. The
personalized model (pDNSMOS) is trained to count a second talker as noise for personalized noise
suppression; speaker purity is judged elsewhere (speaker embeddings), and published thresholds are
for the plain model. speechmos rates one window per session run (and its P.808 model too, which we
do not need). The aligned stage scores each clip as it is written (`ClipScorer`), beside the
alignment of the next ones; `Dnsmos.score` rates the windows of several clips a run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_assets.atomic import write_text_atomic

log = logging.getLogger(__name__)

RATE = 16000
WINDOW = int(9.01 * RATE)  # the model's input length in samples (144160)
HOP = RATE
# Windows per session run. On 2 CPU cores batching saves nothing: the model is compute-bound, and
# 1 or 4 windows a run cost the same per window, 8 or 16 10-20% more CPU (bench/bench_quality.py).
BATCH_WINDOWS = 4
# Windows rated per clip. The reference rates up to 8 for a clip of 2-10 s (a clip under 9.01 s is
# doubled until it is that long, then every 1 s hop counts), each a rotation of the same clip: the
# first already holds the whole clip, differs from their mean by 0.02 OVRL on average (0.05 at most
# on 34 clips, bench/bench_quality.py) and costs 0.38x the time. None: all of them, as the reference.
MAX_WINDOWS = 1
# Microsoft's non-personalized P.835 mappings from raw model outputs to MOS.
_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])
COLUMNS = ("quality_dnsmos_sig", "quality_dnsmos_bak", "quality_dnsmos_ovrl")  # of the aligned manifest


@dataclass(frozen=True)
class DnsmosScore:
    sig: float  # speech signal quality, 1-5
    bak: float  # background noise (5: none heard), 1-5
    ovrl: float  # overall quality, 1-5

    def columns(self) -> dict:
        return dict(zip(COLUMNS, (self.sig, self.bak, self.ovrl)))


def model_path() -> Path:
    import speechmos

    return Path(speechmos.__file__).parent / "dnsmos_models" / "sig_bak_ovr.onnx"


def windows(audio: np.ndarray, limit: int | None = None) -> np.ndarray:
    """The 9.01 s windows the model rates for one 16 kHz clip, as dnsmos_local.py cuts them (the
    first `limit` of them when given)."""
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) == 0:
        raise ValueError("an empty clip has no DNSMOS score")
    while len(audio) < WINDOW:
        audio = np.concatenate([audio, audio])
    hops = int(np.floor(len(audio) / RATE) - 9.01) + 1
    starts = [i * HOP for i in range(hops) if i * HOP + WINDOW <= len(audio)][:limit]
    return np.stack([audio[s:s + WINDOW] for s in starts])


class Dnsmos:
    """One ONNX session, loaded once; `score` rates many clips, batching their windows."""

    def __init__(self, batch_windows: int = BATCH_WINDOWS, max_windows: int | None = MAX_WINDOWS, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default (all cores)
        self.session = ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.batch_windows = max(1, batch_windows)
        self.max_windows = max_windows

    def _rate(self, batch: np.ndarray) -> np.ndarray:
        raw = self.session.run(None, {self.input: batch})[0]
        return np.stack([_SIG(raw[:, 0]), _BAK(raw[:, 1]), _OVRL(raw[:, 2])], axis=1)

    def score(self, clips: Iterable[np.ndarray]) -> Iterator[DnsmosScore]:
        """A score per 16 kHz clip, in order; clips are read lazily, a batch's worth at a time."""
        pending: list[np.ndarray] = []  # the windows of the clips not yet rated
        held = 0
        for clip in clips:
            pending.append(windows(clip, self.max_windows))
            held += len(pending[-1])
            if held >= self.batch_windows:
                yield from self._flush(pending)
                pending, held = [], 0
        if pending:
            yield from self._flush(pending)

    def _flush(self, per_clip: list[np.ndarray]) -> Iterator[DnsmosScore]:
        stacked = np.concatenate(per_clip)
        rated = np.concatenate([self._rate(stacked[i:i + self.batch_windows])
                                for i in range(0, len(stacked), self.batch_windows)])
        position = 0
        for clip_windows in per_clip:
            sig, bak, ovrl = rated[position:position + len(clip_windows)].mean(axis=0)
            position += len(clip_windows)
            yield DnsmosScore(round(float(sig), 3), round(float(bak), 3), round(float(ovrl), 3))


def at_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    import soxr

    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, RATE) if rate != RATE else audio


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ClipScorer:
    """DNSMOS of clips handed over as they are written, on a pool of threads, one single-threaded
    run of the session each: on CPU the cores fill without intra-op threads waiting on one another
    (0.41 CPU s a clip alone, 0.42-0.46 split over two threads).

    `cache` (JSON, the clip files' SHA-256 -> scores) spares the model the clips an earlier build
    scored: a voice's aligned dataset is rebuilt whole whenever one of its books changes, and its
    clips are re-cut to the same bytes. `scores` keeps the entries of the clips scored this time only.
    """

    def __init__(self, cache: Path | None = None, workers: int | None = None):
        self.cache = cache
        self.known: dict[str, list[float]] = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
        self.digests: dict[str, str] = {}  # key -> the digest of its clip
        self.pending: dict[str, Future] = {}  # digest -> its score being computed
        self.workers = workers or cores()
        self.pool: ThreadPoolExecutor | None = None  # started by the first clip not in the cache
        self.model: Dnsmos | None = None

    def add(self, key: str, path: Path) -> None:
        """Score the clip file at `path` (any rate) under `key`."""
        data = path.read_bytes()
        digest = f"{hashlib.sha256(data).hexdigest()}/{MAX_WINDOWS}"
        self.digests[key] = digest
        if digest in self.known or digest in self.pending:
            return
        if self.pool is None:
            self.model = Dnsmos(threads=1)
            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dnsmos")
        self.pending[digest] = self.pool.submit(self._score, data)

    def _score(self, data: bytes) -> list[float]:
        import soundfile as sf

        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        [score] = self.model.score([at_16k(audio, rate)])
        return list(score.columns().values())

    def __enter__(self) -> "ClipScorer":
        return self

    def __exit__(self, *failed) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def scores(self) -> dict[str, DnsmosScore]:
        """Every clip's score by key, once all are done; the cache is written."""
        self.known.update({digest: future.result() for digest, future in self.pending.items()})
        if self.cache is not None:
            write_text_atomic(self.cache, json.dumps({d: self.known[d] for d in sorted(set(self.digests.values()))}) + "\n")
        return {key: DnsmosScore(*self.known[digest]) for key, digest in self.digests.items()}


def low_quality(rows: list[dict], floor: float, below_median: float | None = None) -> dict[int, str]:
    """The rows (with their `quality_dnsmos_*` columns) under the OVRL floor, or more than
    `below_median` under the median of these rows (the voice's own quality: a noisy session of a
    clean voice, while a voice whose every clip scores low, such as a formant synthesizer cut
    tightly, keeps its clips), with the detail."""
    low = {i: f"DNSMOS OVRL {row['quality_dnsmos_ovrl']:.2f} < {floor}"
           for i, row in enumerate(rows) if row["quality_dnsmos_ovrl"] < floor}
    if below_median is not None and rows:
        median = float(np.median([row["quality_dnsmos_ovrl"] for row in rows]))
        low |= {i: f"DNSMOS OVRL {row['quality_dnsmos_ovrl']:.2f} < the voice's median {median:.2f} - {below_median}"
                for i, row in enumerate(rows) if i not in low and row["quality_dnsmos_ovrl"] < median - below_median}
    return low

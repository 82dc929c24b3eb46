"""DNSMOS P.835 (SIG, BAK, OVRL) for clips, offline and batched.

The model is Microsoft's DNS-Challenge ONNX model that the `speechmos` package ships
(`dnsmos_models/sig_bak_ovr.onnx`, MIT). The preprocessing and the polynomial mapping are those of
Microsoft's `dnsmos_local.py` (and speechmos's copy of it), so scores compare with published ones
(Emilia keeps OVRL >= 3.0): 16 kHz audio; a clip shorter than 9.01 s is repeated (doubled) until it
is that long; the model rates every 9.01 s window at a 1 s hop; each window's raw scores are mapped
by the *non-personalized* polynomials and the clip's score is the mean over its windows. The
personalized model (pDNSMOS) is trained to count a second talker as noise for personalized noise
suppression; speaker purity is judged elsewhere (speaker embeddings), and published thresholds are
for the plain model. speechmos rates one window per session run (and its P.808 model too, which we
do not need); the model takes a batch of windows, so we rate the windows of several clips at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
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


def score_files(paths: list[Path], scorer: Dnsmos | None = None) -> list[DnsmosScore]:
    """DNSMOS of audio files (any rate), read one batch at a time."""
    import soundfile as sf

    scorer = scorer or Dnsmos()

    def clips() -> Iterator[np.ndarray]:
        for number, path in enumerate(paths, start=1):
            audio, rate = sf.read(path, dtype="float32")
            if number % 500 == 0:
                log.info("DNSMOS: %d of %d clips", number, len(paths))
            yield at_16k(audio, rate)

    return list(scorer.score(clips()))


def score_rows(rows: list[dict], folder: Path, floor: float | None, cache: Path | None = None,
               below_median: float | None = None) -> dict[int, str]:
    """Add the `quality_dnsmos_*` columns to rows (their `audio_file` relative to `folder`); the rows
    under the OVRL floor, or more than `below_median` under the median of these rows (the voice's
    own quality: a noisy session of a clean voice, while a voice whose every clip scores low, such
    as a formant synthesizer cut tightly, keeps its clips), with the detail. With no floor nothing
    is scored (the columns stay null).

    `cache` (JSON, the clip files' SHA-256 -> scores) spares the model the clips an earlier build
    scored: a voice's aligned dataset is rebuilt whole whenever one of its books changes, and its
    clips are re-cut to the same bytes. It keeps the entries of these rows only."""
    if floor is None:
        for row in rows:
            row.update(dict.fromkeys(COLUMNS))
        return {}
    paths = [folder / row["audio_file"] for row in rows]
    digests = [f"{hashlib.sha256(path.read_bytes()).hexdigest()}/{MAX_WINDOWS}" for path in paths]
    known = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
    missing = sorted({d: p for d, p in zip(digests, paths) if d not in known}.items())
    if missing:  # else not even the session is loaded
        known.update({d: list(score.columns().values())
                      for (d, _), score in zip(missing, score_files([p for _, p in missing]))})
    log.info("DNSMOS: %d clips scored, %d from the cache", len(missing), len(rows) - len(missing))
    for row, digest in zip(rows, digests):
        row.update(zip(COLUMNS, known[digest]))
    if cache is not None:
        write_text_atomic(cache, json.dumps({d: known[d] for d in digests}) + "\n")
    low = {i: f"DNSMOS OVRL {row['quality_dnsmos_ovrl']:.2f} < {floor}"
           for i, row in enumerate(rows) if row["quality_dnsmos_ovrl"] < floor}
    if below_median is not None and rows:
        median = float(np.median([row["quality_dnsmos_ovrl"] for row in rows]))
        low |= {i: f"DNSMOS OVRL {row['quality_dnsmos_ovrl']:.2f} < the voice's median {median:.2f} - {below_median}"
                for i, row in enumerate(rows) if i not in low and row["quality_dnsmos_ovrl"] < median - below_median}
    return low

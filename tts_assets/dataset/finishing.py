"""The aligned clips finished: cut out of their sources, judged as cut, loudness-normalized and
scored by DNSMOS, in a process of its own beside the alignment of the next clips.

On CPU pocketsphinx aligns on one core and DNSMOS, the dearest measure (0.41 CPU s a clip), takes
what it leaves. A process, not a thread: pocketsphinx holds the interpreter lock while it decodes,
and a finishing thread starved of it had cut 27 of 101 clips when the alignment ended.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import soundfile as sf

from tts_assets.aligners.base import AlignedWord
from tts_assets.atomic import write_wav_atomic
from tts_assets.audio.cut import CutRequest, CutResult, cut_in_order
from tts_assets.background import BackgroundProcess
from tts_assets.dataset.decisions import ReviewDecisions
from tts_assets.errors import UnreadableAudioError
from tts_assets.manifest.schema import Reason
from tts_assets.quality.dnsmos import ClipScorer
from tts_assets.quality.measures import measure, normalize_loudness
from tts_assets.settings import DatasetSettings


@dataclass
class Candidate:
    """An aligned clip to cut out of its source: its row, the reading the audio chose, its words."""
    row: dict
    text: str
    words: list[AlignedWord]  # relative to the original clip
    score: float
    request: CutRequest
    readings: int  # how many readings of the written text were aligned for the audio to choose
    aligner: str  # the backend that aligned it, and its model
    model: str


def rejection(row: dict, reason: Reason, detail: str) -> dict:
    return {
        "source": row["source"], "start": row["start"], "end": row["end"], "text": row["text"],
        "reason": reason.value, "detail": detail, "book": row["book"], "line": None,
        "segment_ids": row["segment_ids"], "audio_file": row["audio_file"],
        "part": row.get("part"), "parts": row.get("parts"),
    }


def trimmed_rejection(words, duration: float, silence: float, settings: DatasetSettings, chars: int):
    """Bounds, silence (`ClipMeasures.silence`) and text/audio length, judged on the re-cut clip of
    `duration` seconds; (reason, detail) or None."""
    q = settings.quality
    rules = settings.merge
    if words[0].start < 0 or words[-1].end > duration + 1e-3:
        return Reason.CUT_INSIDE_WORD, f"words span {words[0].start:.2f}–{words[-1].end:.2f} s of {duration:.2f} s"
    if duration < rules.min_clip_s:
        return Reason.TOO_SHORT, f"{duration:.2f} s after trimming < {rules.min_clip_s} s"
    if duration > rules.max_clip_s + 2 * settings.align.pad_s:
        return Reason.TOO_LONG, f"{duration:.2f} s > {rules.max_clip_s} s + 2 × {settings.align.pad_s} s padding"
    if silence > q.max_silence:
        return Reason.TOO_MUCH_SILENCE, f"{silence:.0%} silent > {q.max_silence:.0%}"
    rate_cps = chars / duration
    if not q.min_chars_per_s <= rate_cps <= q.max_chars_per_s:
        return Reason.LENGTH_MISMATCH, (
            f"{rate_cps:.1f} characters/s outside {q.min_chars_per_s}–{q.max_chars_per_s}"
        )
    return None


@dataclass
class Finished:
    kept: list[dict] = field(default_factory=list)
    originals: list[dict] = field(default_factory=list)  # the train_manifest row of each kept row
    rejections: list[dict] = field(default_factory=list)
    dnsmos_scored: int = 0  # clips DNSMOS scored this time, not read from its cache


class _Finisher:
    """Cuts candidates out of their sources (one decode each), judges and scores them; candidates
    come in the order of their sources, and of their rows' starts within a source."""

    def __init__(self, dataset_dir: Path, settings: DatasetSettings, review: ReviewDecisions,
                 scorer: ClipScorer | None):
        self.dataset_dir, self.settings, self.review, self.scorer = dataset_dir, settings, review, scorer
        self.finished = Finished()
        self.rejections = self.finished.rejections

    def run(self, candidates: Iterator[Candidate]) -> None:
        for source, group in groupby(candidates, key=lambda c: c.row["source"]):
            self._cut_source(Path(source), group)

    def _cut_source(self, source: Path, group: Iterator[Candidate]) -> None:
        pulled: deque[Candidate] = deque()

        def requests() -> Iterator[CutRequest]:
            for candidate in in_start_order(group, self.settings.align.pad_s):
                pulled.append(candidate)
                yield candidate.request

        fmt = self.settings.clips
        pending = requests()
        try:
            for result in cut_in_order(source, pending, fmt.sample_rate, fmt.subtype):
                self._finish(pulled.popleft(), result)
        except UnreadableAudioError as exc:
            for _ in pending:  # the rest of the source's candidates, those waiting for their turn too
                pass
            self.rejections += [rejection(c.row, Reason.UNREADABLE_AUDIO, str(exc)) for c in pulled]

    def _finish(self, candidate: Candidate, result: CutResult) -> None:
        row, settings = candidate.row, self.settings
        if result.damaged:
            a, b = result.damaged
            self.rejections.append(rejection(row, Reason.DAMAGED_AUDIO, f"the re-cut reaches the damaged "
                                                                         f"audio from {a:.2f} s to {b:.2f} s"))
            return
        if result.samples == 0:
            self.rejections.append(rejection(row, Reason.BEYOND_AUDIO_END, "re-cut past the end of the source"))
            return
        shift = (row["start"] or 0.0) - result.start
        words = [AlignedWord(w.word, round(w.start + shift, 3), round(w.end + shift, 3), w.score)
                 for w in candidate.words]
        path = result.request.out_path
        audio, rate = sf.read(path, dtype="float32")
        chars = sum(len(w.word) for w in words)
        measures = measure(audio, rate)
        failed = trimmed_rejection(words, len(audio) / rate, measures.silence,
                                   self.review.settings_for(row, settings), chars)
        if failed:
            self.rejections.append(rejection(row, *failed))
            path.unlink(missing_ok=True)
            return
        if settings.quality.loudness_lufs is not None:
            audio = normalize_loudness(audio, rate, settings.quality.loudness_lufs)
            write_wav_atomic(path, audio, rate, settings.clips.subtype)
            measures = measure(audio, rate)  # the level the clip now has
        audio_file = path.relative_to(self.dataset_dir).as_posix()
        if self.scorer is not None:
            self.scorer.add(audio_file, path)
        self.finished.originals.append(row)
        self.finished.kept.append({
            **row,
            "audio_file": audio_file,
            "source_clip": row["audio_file"],
            "text": candidate.text,
            "text_original": row["text"],
            "duration": round(len(audio) / rate, 4),
            "start": round(result.start, 3) if row["start"] is not None else None,
            "end": round(result.end, 3) if row["start"] is not None else None,
            "sample_rate": rate,
            "words": [w.to_dict() for w in words],
            "align_score": candidate.score,
            "normalization_candidates": candidate.readings,
            "aligner": candidate.aligner,
            "align_model": candidate.model,
            "seconds_per_char": round((words[-1].end - words[0].start) / max(chars, 1), 4),
            "part": row.get("part"),  # k of `parts` when a long clip was split; else None
            "parts": row.get("parts"),
            **{f"quality_{k}": v for k, v in measures.to_dict().items()},
        })


def in_start_order(candidates: Iterable[Candidate], pad_s: float) -> Iterator[Candidate]:
    """The candidates of one source by the start of their cut. Their rows come by start, and a cut
    starts at most `pad_s` before its row, so a candidate goes as soon as no later row can start
    a cut before it."""
    waiting: list[tuple[float, int, Candidate]] = []
    for number, candidate in enumerate(candidates):
        heapq.heappush(waiting, (candidate.request.start, number, candidate))
        earliest_later = (candidate.row["start"] or 0.0) - pad_s
        while waiting and waiting[0][0] <= earliest_later:
            yield heapq.heappop(waiting)[2]
    while waiting:
        yield heapq.heappop(waiting)[2]


def finishing_process(dataset_dir: Path, settings: DatasetSettings, review: ReviewDecisions,
                      dnsmos_cache: Path | None) -> BackgroundProcess:
    """`_Finisher` in a process of its own at idle priority (see the module), `put` lists of
    candidates as they are aligned; `result()` waits for the last one and returns the `Finished`
    and the DNSMOS scores by clip file, scored there on threads of the process's own when
    `dnsmos_cache` (the scores' cache file) is given, else None."""
    return BackgroundProcess("finishing", _finished_in_process, (dataset_dir, settings, review, dnsmos_cache))


def _finished_in_process(dataset_dir: Path, settings: DatasetSettings, review: ReviewDecisions,
                         dnsmos_cache: Path | None, items: Iterator[list[Candidate]]) -> tuple[Finished, dict | None]:
    with ClipScorer(dnsmos_cache) if dnsmos_cache is not None else nullcontext() as scorer:
        finisher = _Finisher(dataset_dir, settings, review, scorer)
        finisher.run(candidate for candidates in items for candidate in candidates)
        scores = scorer.scores() if scorer is not None else None
        finisher.finished.dnsmos_scored = len(scorer.pending) if scorer is not None else 0
    return finisher.finished, scores

"""Cut many clips out of one streaming decode of a source file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_assets.atomic import write_wav_atomic
from tts_assets.audio.decode import DecodeReport, stream_pcm

# A clip may end this far past the decoded audio (rounding of word times at the very end).
END_TOLERANCE_S = 0.1
# Word times from ASR are off by up to a few hundred ms: a cut that lands in speech moves to the
# nearest pause within this reach.
SNAP_REACH_S = 0.3
PAUSE_MIN_S = 0.06  # a quiet run shorter than this is a stop consonant, not a pause
# A quiet run this long lies between words; a shorter one may be the closure of a stop inside a
# word ("A s|teaming"), so within reach a long pause is preferred to a nearer short one.
PAUSE_LONG_S = 0.15
PAUSE_MARGIN_S = 0.08  # keep a moved cut this far inside the pause when it is long enough


@dataclass(frozen=True)
class CutRequest:
    start: float
    end: float
    out_path: Path
    # Known speech the clip must keep whole (aligned words): moving a cut into a pause never
    # crosses these.
    speech_start: float | None = None
    speech_end: float | None = None


@dataclass(frozen=True)
class CutResult:
    request: CutRequest
    samples: int  # 0 when the clip lies past the end of the decoded audio, or is damaged
    start: float  # where the clip was actually cut, after moving out of speech
    end: float
    damaged: tuple[float, float] | None = None  # a stretch the decoder could not read: not written


def quiet_position(
    audio: np.ndarray, position: int, sample_rate: int, not_after: int | None = None, not_before: int | None = None
) -> int:
    """The point nearest to `position` that lies in a pause, PAUSE_MARGIN_S clear of speech; in a
    pause of PAUSE_LONG_S or more when one is within reach.

    A pause is a run of at least PAUSE_MIN_S of 10 ms frames quieter than a tenth of the loud
    frames around it. Without one within SNAP_REACH_S, the position is kept. The point found is
    never later than `not_after` nor earlier than `not_before` (sample indices into `audio`).
    """
    frame = sample_rate // 100
    reach = int(SNAP_REACH_S * sample_rate)
    # Look a margin past the reach, so a pause's true edges are seen, not the window's.
    look = reach + int(PAUSE_MARGIN_S * sample_rate)
    lo = max(0, position - look) // frame * frame
    count = (min(len(audio), position + look) - lo) // frame
    if count < 3:
        return position
    frames = audio[lo : lo + count * frame].reshape(count, frame)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    quiet = np.concatenate([rms <= max(0.1 * np.percentile(rms, 95), 1e-4), [False]])
    here = min(max((position - lo) // frame, 0), count - 1)
    min_run, margin = max(1, round(PAUSE_MIN_S * 100)), round(PAUSE_MARGIN_S * 100)
    long_run = round(PAUSE_LONG_S * 100)
    best, best_rank, run_start = None, None, None
    for index, is_quiet in enumerate(quiet):
        if is_quiet:
            run_start = index if run_start is None else run_start
            continue
        if run_start is not None and index - run_start >= min_run:
            inset = min(margin, (index - run_start) // 2)
            first, last = run_start + inset, index - 1 - inset
            target = min(max(here, first), last) if first <= last else (run_start + index) // 2
            point = lo + target * frame + frame // 2
            allowed = (not_after is None or point <= not_after) and (not_before is None or point >= not_before)
            within_reach = abs(target - here) * frame <= reach
            rank = (index - run_start >= long_run, -abs(target - here))
            if allowed and within_reach and (best_rank is None or rank > best_rank):
                best, best_rank = target, rank
        run_start = None
    if best is None or best == here:
        return position
    return lo + best * frame + frame // 2


def cut_in_order(
    source: Path,
    requests: Iterable[CutRequest],
    sample_rate: int = 24000,
    subtype: str = "PCM_16",
    chunk_seconds: float = 5.0,
    report: DecodeReport | None = None,
    to_the_end: bool = False,
) -> Iterator[CutResult]:
    """Decode `source` once, resampled to mono `sample_rate`, and write each requested clip as
    the decode reaches it; `requests` come in the order of their starts and are read one at a time,
    each when the clip before it is written, so they may be decided while the decode goes on.

    Only the audio from the current clip's start (less the reach of a moved cut) to the decode
    position is held, so memory is bounded by the longest clip, not by the book. A cut point that
    falls in speech moves to the nearest pause (see `quiet_position`). Each clip is written
    atomically; a clip touching a damaged stretch is not written. The decode stops at the last
    clip's end, unless `to_the_end`: then `report` ends with the source's true length and every
    damaged stretch.
    """
    report = report if report is not None else DecodeReport()
    chunks = stream_pcm(source, sample_rate, chunk_seconds, report=report)
    reach = int(SNAP_REACH_S * sample_rate)
    buffer = np.zeros(0, dtype=np.float32)
    buffer_offset = 0  # sample index of buffer[0] in the decoded stream
    exhausted = False
    last_start = 0
    for request in requests:
        start, end = (max(0, round(t * sample_rate)) for t in (request.start, request.end))
        if start < last_start:
            raise ValueError(f"{source}: cut requests out of order ({request.start:.3f} s after a later start)")
        last_start = start
        drop = min(max(0, start - reach - buffer_offset), len(buffer))
        buffer, buffer_offset = buffer[drop:], buffer_offset + drop
        while not exhausted and buffer_offset + len(buffer) < end + reach:
            chunk = next(chunks, None)
            if chunk is None:
                exhausted = True
            else:
                buffer = np.concatenate([buffer, chunk]) if len(buffer) else chunk
        available_end = buffer_offset + len(buffer)
        if end > available_end and (end - available_end > END_TOLERANCE_S * sample_rate or start >= available_end):
            yield CutResult(request, 0, request.start, request.end)
            continue
        keep_from = None if request.speech_start is None else round(request.speech_start * sample_rate) - buffer_offset
        keep_to = None if request.speech_end is None else round(request.speech_end * sample_rate) - buffer_offset
        start = buffer_offset + quiet_position(buffer, start - buffer_offset, sample_rate, not_after=keep_from)
        end = buffer_offset + quiet_position(buffer, min(end, available_end) - buffer_offset, sample_rate,
                                             not_before=keep_to)
        damage = report.damage_within(start / sample_rate, end / sample_rate)
        if damage:
            yield CutResult(request, 0, start / sample_rate, end / sample_rate, damage)
            continue
        clip = buffer[start - buffer_offset:end - buffer_offset]
        write_wav_atomic(request.out_path, clip, sample_rate, subtype)
        yield CutResult(request, len(clip), start / sample_rate, end / sample_rate)
    if to_the_end:
        for _ in chunks:
            pass
    chunks.close()


def cut_clips(
    source: Path,
    requests: list[CutRequest],
    sample_rate: int = 24000,
    subtype: str = "PCM_16",
    chunk_seconds: float = 5.0,
    report: DecodeReport | None = None,
) -> list[CutResult]:
    """Every requested clip, in any order of requests, cut from one decode of `source`
    (`cut_in_order`) that goes to its end, so `report` ends with the source's true length and every
    damaged stretch. Results come back in the order of `requests`.
    """
    order = sorted(range(len(requests)), key=lambda i: requests[i].start)
    results = dict(zip(order, cut_in_order(source, [requests[i] for i in order], sample_rate, subtype,
                                           chunk_seconds, report, to_the_end=True)))
    return [results[i] for i in range(len(requests))]

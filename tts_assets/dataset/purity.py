"""The speaker-purity and sound screening of a book's segments, before they are merged.

Each segment is measured once (while the ASR transcribes it, `measured_while_transcribed`, or
from a decode of its own) and cached in `speaker_sounds.npz`, so a new threshold re-judges
without decoding. `screen_book` estimates the voice from the segments of all the
voice's books measured so far, and writes the book's report (`speaker.json`, with the
similarity histogram and the segments nearest the threshold, and `speaker_similarity.png`).
Rejected segments become hard breaks of the merge, so no clip mixes two voices or holds music.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from tts_assets.atomic import atomic_path, write_text_atomic
from tts_assets.errors import SettingsError, UnreadableAudioError
from tts_assets.evaluate.speaker import Ge2eEmbedder, load_embedder, utterance_embedding
from tts_assets.layout import DataLayout
from tts_assets.manifest.schema import Reason, Rejection
from tts_assets.purity.judge import (Verdict, judge, nearest_threshold, similarity_histogram,
                                     similarity_histogram_png, sound_rejection, voice_reference, voice_share)
from tts_assets.purity.measure import WINDOW_STEP_S, MeasureCost, MeterProcess, SegmentSound, measure_segments
from tts_assets.segments.model import Segment
from tts_assets.settings import SpeakerSettings

log = logging.getLogger(__name__)

REASONS = (Reason.OTHER_SPEAKER, Reason.MUSIC, Reason.NON_SPEECH)


@dataclass
class Screening:
    verdicts: list[Verdict] = field(default_factory=list)
    report: dict | None = None  # None: screening is off

    @cached_property
    def rejected(self) -> dict[str, Verdict]:
        return {v.segment_id: v for v in self.verdicts if v.reason}

    @cached_property
    def similarity(self) -> dict[str, float]:
        return {v.segment_id: v.similarity for v in self.verdicts if v.similarity is not None}

    def rejections(self, segments: list[Segment], source: str, book: str) -> list[Rejection]:
        rejected = self.rejected
        return [Rejection(source, s.start, s.end, s.text, rejected[s.id].reason, rejected[s.id].detail, book,
                          segment_ids=[s.id]) for s in segments if s.id in rejected]


def _embedder(settings: SpeakerSettings) -> Ge2eEmbedder:
    embedder = load_embedder(settings.model)
    if not isinstance(embedder, Ge2eEmbedder):
        raise SettingsError(f"dataset.speaker.model {settings.model!r}: the screening needs a GE2E encoder "
                            "(resemblyzer, a GE2E .pt file) or none")
    return embedder


def _measured_by(settings: SpeakerSettings) -> str:
    """What a cached measurement must match to be reused or compared: the model and its windows."""
    return f"{settings.model} windows {WINDOW_STEP_S} s"


def _source_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _save(path: Path, sounds: list[SegmentSound], model: str, stamp: str, measured: dict) -> None:
    partials = [s.partials if s.partials is not None else np.zeros((0, 256), np.float32) for s in sounds]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a file object: np.savez would add .npz to the name
            np.savez(handle, ids=np.array([s.segment_id for s in sounds], dtype=str),
                     times=np.array([(s.start, s.end) for s in sounds], dtype=np.float64).reshape(-1, 2),
                     speech=np.array([s.speech_share for s in sounds], dtype=np.float32),
                     music=np.array([s.music_share for s in sounds], dtype=np.float32),
                     damaged=np.array([s.damaged for s in sounds], dtype=bool),
                     counts=np.array([len(p) for p in partials], dtype=np.int64),
                     partials=np.concatenate(partials).astype(np.float16) if partials else np.zeros((0, 256), np.float16),
                     model=np.array(model), source=np.array(stamp), measured=np.array(json.dumps(measured)))


def _as_cached(sound: SegmentSound) -> SegmentSound:
    """The sound at the precision the cache keeps, so a book judges the same measured or read back."""
    if sound.partials is not None:
        sound.partials = sound.partials.astype(np.float16).astype(np.float32)
    sound.speech_share, sound.music_share = float(np.float32(sound.speech_share)), float(np.float32(sound.music_share))
    return sound


@dataclass
class _Cached:
    sounds: list[SegmentSound]
    measured_by: str
    source: str
    measured: dict  # how it was measured: where, and the seconds it took


def _load(path: Path) -> _Cached | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        offsets = np.concatenate([[0], np.cumsum(data["counts"])])
        partials = data["partials"].astype(np.float32)
        sounds = [SegmentSound(str(i), float(t[0]), float(t[1]),
                               partials[a:b] if b > a else None, float(sp), float(mu), bool(d))
                  for i, t, sp, mu, d, a, b in zip(data["ids"], data["times"], data["speech"], data["music"],
                                                   data["damaged"], offsets[:-1], offsets[1:])]
        measured = json.loads(str(data["measured"])) if "measured" in data else {}
        return _Cached(sounds, str(data["model"]), str(data["source"]), measured)


def _keep(layout: DataLayout, voice: str, book: str, audio: Path, sounds: list[SegmentSound],
          settings: SpeakerSettings, cost: MeasureCost, seconds: float, where: str) -> tuple[list[SegmentSound], dict]:
    """Write the measured sounds to the book's cache; they come back at the precision it keeps, with
    how they were measured."""
    sounds = [_as_cached(s) for s in sounds]
    measured = {"where": where, "seconds": round(seconds, 3), "audio_s": round(cost.audio_s, 3),
                **{f"{k}_s": round(getattr(cost, f"{k}_s"), 3) for k in ("decode", "embed", "vad", "music")}}
    _save(layout.speaker_sounds(voice, book), sounds, _measured_by(settings), _source_stamp(audio), measured)
    log.info("%s/%s: %d segments measured %s in %.1f s (vad %.1f s, music %.1f s, embedding %.1f s)", voice, book,
             len(sounds), where, seconds, cost.vad_s, cost.music_s, cost.embed_s)
    return sounds, measured


def screening_off(settings: SpeakerSettings) -> bool:
    return settings.model.strip().lower() == "none"


@contextmanager
def measured_while_transcribed(layout: DataLayout, voice: str, book: str, audio: Path,
                               settings: SpeakerSettings) -> Iterator[Callable | None]:
    """The `hear` callback for the ASR (None when screening is off): each segment it transcribes is
    measured in another process from the ASR's own decode (`MeterProcess`), and the sounds are kept
    in the cache `screen_book` reads, so the book is not decoded again for its screening."""
    if screening_off(settings):
        yield None
        return
    _embedder(settings)  # a wrong model fails now, not after the transcription
    started = time.perf_counter()
    meter = MeterProcess(settings.model)
    try:
        yield meter.measure
        sounds, cost = meter.finish()
    except BaseException:
        meter.stop()
        raise
    _keep(layout, voice, book, audio, sounds, settings, cost, time.perf_counter() - started, "while transcribed")


def _book_sounds(layout: DataLayout, voice: str, book: str, audio: Path, segments: list[Segment],
                 settings: SpeakerSettings) -> tuple[list[SegmentSound], dict]:
    """The segments' sounds, read from the cache when it measured these very segments of this audio
    with these settings (the ASR's measurement), else measured now from a decode of their own."""
    cached = _load(layout.speaker_sounds(voice, book))
    if cached and cached.measured_by == _measured_by(settings) and cached.source == _source_stamp(audio):
        by_id = {s.segment_id: s for s in cached.sounds}
        if all(s.id in by_id and (by_id[s.id].start, by_id[s.id].end) == (s.start, s.end) for s in segments):
            return [by_id[s.id] for s in sorted(segments, key=lambda s: s.start)], {"cached": True, **cached.measured}
    cost, started = MeasureCost(), time.perf_counter()
    sounds = measure_segments(audio, segments, _embedder(settings), cost)
    sounds, measured = _keep(layout, voice, book, audio, sounds, settings, cost, time.perf_counter() - started,
                             "from a decode")
    return sounds, {"cached": False, **measured}


def _voice_embeddings(sounds: list[SegmentSound], settings: SpeakerSettings) -> list[np.ndarray]:
    return [utterance_embedding(s.partials) for s in sounds
            if s.partials is not None and not s.damaged and not sound_rejection(s, settings)]


def screen_book(layout: DataLayout, voice: str, book: str, audio: Path, segments: list[Segment],
                settings: SpeakerSettings) -> Screening:
    """Judge the book's segments (see the module); with `model: none` nothing is judged."""
    outputs = (layout.speaker_sounds(voice, book), layout.speaker_report(voice, book),
               layout.speaker_histogram(voice, book))
    if screening_off(settings) or not segments:
        for path in outputs:
            path.unlink(missing_ok=True)
        return Screening()
    try:
        sounds, measured = _book_sounds(layout, voice, book, audio, segments, settings)
    except UnreadableAudioError as error:  # the cut stage records the book's failure
        log.warning("%s/%s: segments not screened: %s", voice, book, error)
        return Screening()
    embeddings = _voice_embeddings(sounds, settings)
    books = [book]
    for other in layout.books(voice):  # the voice is one across its books
        cached = _load(layout.speaker_sounds(voice, other)) if other != book else None
        if cached and cached.measured_by == _measured_by(settings):
            embeddings += _voice_embeddings(cached.sounds, settings)
            books.append(other)
    reference = voice_reference(np.stack(embeddings), settings.reference_trim) if embeddings else None
    verdicts = judge(sounds, reference, settings)
    share = voice_share(verdicts)
    texts = {s.id: s.text for s in segments}
    report = {
        "model": settings.model,
        "min_similarity": settings.min_similarity,
        "reference": {"books": sorted(books), "segments": len(embeddings)},
        "segments": len(verdicts),
        "segments_compared": sum(v.similarity is not None for v in verdicts),
        "rejected": {r.value: sum(v.reason is r for v in verdicts) for r in REASONS},
        "seconds_rejected": {r.value: round(sum(v.end - v.start for v in verdicts if v.reason is r), 3)
                             for r in REASONS},
        "voice_share": None if share is None else round(share, 4),
        "warning": None,
        "histogram": similarity_histogram(verdicts),
        "nearest_threshold": [
            {"segment_id": v.segment_id, "start": v.start, "end": v.end, "similarity": v.similarity,
             "kept": v.reason is None, "text": texts.get(v.segment_id, "")}
            for v in nearest_threshold(verdicts, settings.min_similarity, settings.nearest_listed)],
        "measured": measured,
    }
    if share is not None and share < settings.min_voice_share:
        report["warning"] = (f"only {share:.0%} of the book's speech is the voice {voice} "
                             f"(< min_voice_share {settings.min_voice_share:.0%}): is it read by another reader? "
                             f"Its other voices are rejected (other_speaker)")
        log.warning("%s/%s: %s", voice, book, report["warning"])
    write_text_atomic(outputs[1], json.dumps(report, indent=2) + "\n")
    png = similarity_histogram_png(verdicts, settings.min_similarity,
                                   f"{book}: {len(verdicts)} segments, "
                                   f"{Counter(v.reason for v in verdicts)[Reason.OTHER_SPEAKER]} other_speaker")
    with atomic_path(outputs[2]) as tmp:
        tmp.write_bytes(png)
    log.info("%s/%s: %s rejected; %s of the compared speech is the voice", voice, book,
             ", ".join(f"{n} {r}" for r, n in report["rejected"].items()),
             "none" if share is None else f"{share:.0%}")
    return Screening(verdicts, report)


def speaker_summary(layout: DataLayout, voice: str, book: str) -> dict:
    """The book summary's speaker fields: the voice's share of its speech and the warning, if any."""
    path = layout.speaker_report(voice, book)
    if not path.is_file():
        return {}
    report = json.loads(path.read_text())
    return {"speaker_voice_share": report["voice_share"], "speaker_warning": report["warning"]}

"""What each transcript segment sounds like, from one streamed decode of the book at 16 kHz:

- its GE2E speaker embeddings, one per 1.6 s window of voiced audio (so a segment that changes voice
  half way shows it), the windows of many segments embedded in one LSTM batch;
- its speech share: the part of its 32 ms windows Silero VAD (the ONNX model faster-whisper
  ships) calls speech;
- its music share: the part of its sounding frames that hold several steady tones for 256 ms or
  more. Instruments hold a pitch, a voice glides: chords of a music bed 12 dB under speech gave
  0.47, the music alone 1.0, LibriVox and Piper speech 0.00-0.04.

Measured from the ASR's own decode while it transcribes (`MeterProcess`), or from a decode of
their own (`measure_segments`: given segments, or a cache made by other settings); either way
only the audio from the earliest unfinished segment on is held, never the whole book.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tts_assets.audio.decode import DecodeReport, stream_pcm
from tts_assets.evaluate.speaker import Ge2eEmbedder
from tts_assets.segments.model import Segment
from tts_assets.background import BackgroundProcess

RATE = 16000
# GE2E windows side by side, not overlapping as resemblyzer's (1.3 a second): half the encoder's work
# for a book, and each window is still 1.6 s of voice.
WINDOW_STEP_S = 1.6
# A window mostly padding is the padding's embedding, not the speaker's ("Yes." by the narrator
# scored as another voice): less voice than resemblyzer's 75 % of a window is not judged by voice.
MIN_JUDGED_VOICE_S = 0.75 * 1.6
BATCH_PARTIALS = 64  # partial utterances per LSTM call
VAD_WINDOW = 512  # Silero's window at 16 kHz (32 ms)
VAD_SPEECH = 0.5  # faster-whisper's own speech threshold
# The steady-tone detector: 128 ms spectra every 32 ms, 50 Hz–2.5 kHz, a peak 12 dB above its
# neighbourhood held (within a bin) for 8 frames; a frame is musical with 3 such tones at once.
TONE_FFT, TONE_HOP, TONE_BINS = 2048, 512, (6, 320)
TONE_PROMINENCE_DB, TONE_HOLD, TONES = 12.0, 8, 3
SOUNDING_DB = 50.0  # frames quieter than the segment's loudest by more than this are not judged


@dataclass
class SegmentSound:
    segment_id: str
    start: float
    end: float
    partials: np.ndarray | None  # unit GE2E embeddings of its 1.6 s partials; None: too little voice
    speech_share: float
    music_share: float
    damaged: bool = False  # touches audio the decoder could not read, or runs past its end: the cut rejects it


@dataclass
class MeasureCost:
    audio_s: float = 0.0
    decode_s: float = 0.0
    embed_s: float = 0.0
    vad_s: float = 0.0
    music_s: float = 0.0


def speech_share(audio: np.ndarray, vad) -> float:
    """The share of the audio's 32 ms windows Silero VAD scores as speech."""
    if len(audio) < VAD_WINDOW:
        return 0.0
    padded = np.pad(audio, (0, -len(audio) % VAD_WINDOW))
    return float((vad(padded) >= VAD_SPEECH).mean())


def music_share(audio: np.ndarray) -> float:
    """The share of the audio's sounding frames holding several steady tones (see the module)."""
    from scipy import ndimage

    if len(audio) < TONE_FFT:
        return 0.0
    spectrum = torch.stft(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), TONE_FFT, TONE_HOP,
                          window=torch.hann_window(TONE_FFT), pad_mode="constant", return_complex=True)
    db = 20 * np.log10(spectrum.abs().numpy() + 1e-9)
    db = db[TONE_BINS[0]:TONE_BINS[1]]
    sounding = db.max(axis=0) > db.max() - SOUNDING_DB
    neighbourhood = ndimage.uniform_filter1d(db, 31, axis=0)  # the mean level of ±15 bins (~120 Hz)
    peaks = (db > neighbourhood + TONE_PROMINENCE_DB) & (db >= ndimage.maximum_filter(db, size=(5, 1)))
    peaks = ndimage.binary_dilation(peaks, structure=np.ones((3, 1), bool))  # a tone may wander one bin
    held = ndimage.minimum_filter1d(peaks.astype(np.uint8), TONE_HOLD, axis=1)
    held = ndimage.maximum_filter1d(held, TONE_HOLD, axis=1) > 0  # back over the frames it was held in
    musical = held.sum(axis=0) >= 3 * TONES  # each tone counts three bins after the dilation
    return float(musical[sounding].mean()) if sounding.any() else 0.0


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    # The encoder's matrices and the spectra are small: a second thread mostly waits for the
    # first (106 s of a book on 2 busy cores: 31 s with 2 threads, 6 s with one).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class SoundMeter:
    """Measures segments handed over with their 16 kHz audio; the GE2E partials of many segments
    go through the encoder in one batch."""

    def __init__(self, embedder: Ge2eEmbedder, cost: MeasureCost | None = None):
        from faster_whisper.vad import get_vad_model

        self.embedder = embedder
        self.cost = cost if cost is not None else MeasureCost()
        self.vad = get_vad_model()
        self.sounds: list[SegmentSound] = []
        self.mels: list[tuple[int, np.ndarray]] = []  # (index in sounds, its partials' mels) not yet embedded

    def measure(self, segment: Segment, audio: np.ndarray, damaged: bool = False) -> None:
        """`damaged`: the audio touches a stretch the decoder could not read, or stops short of the end."""
        with _one_torch_thread():
            self._measure(segment, audio, damaged)

    def _measure(self, segment: Segment, audio: np.ndarray, damaged: bool) -> None:
        cost = self.cost
        cost.audio_s += len(audio) / RATE
        started = time.perf_counter()
        share = speech_share(audio, self.vad)
        cost.vad_s += time.perf_counter() - started
        started = time.perf_counter()
        music = music_share(audio)
        cost.music_s += time.perf_counter() - started
        started = time.perf_counter()
        partial_mels = self.embedder.partial_mels(audio, RATE, WINDOW_STEP_S, MIN_JUDGED_VOICE_S)
        cost.embed_s += time.perf_counter() - started
        self.sounds.append(SegmentSound(segment.id, segment.start, segment.end, None, share, music, damaged))
        if partial_mels is not None:
            self.mels.append((len(self.sounds) - 1, partial_mels))
            if sum(len(m) for _, m in self.mels) >= BATCH_PARTIALS:
                self._embed_waiting()

    def finish(self) -> list[SegmentSound]:
        """Every segment's sound, in time order."""
        if self.mels:
            with _one_torch_thread():
                self._embed_waiting()
        return sorted(self.sounds, key=lambda s: s.start)

    def _embed_waiting(self) -> None:
        started = time.perf_counter()
        batch = np.concatenate([m for _, m in self.mels])
        embedded = np.concatenate([self.embedder.embed_partials(batch[i:i + BATCH_PARTIALS])
                                   for i in range(0, len(batch), BATCH_PARTIALS)])
        at = 0
        for index, m in self.mels:
            self.sounds[index].partials, at = embedded[at:at + len(m)], at + len(m)
        self.mels.clear()
        self.cost.embed_s += time.perf_counter() - started


class MeterProcess:
    """A SoundMeter in a process of its own at idle priority (`BackgroundProcess`), fed the
    segments' audio through a bounded queue (copies of at most `backlog` segments', never the
    book's). On CPU the ASR leaves part of the cores idle, and the segments are measured there while
    it transcribes, from its decode. A process, not a thread: the meter's thread held the interpreter
    lock the ASR's loop needs (10.8 min of a book transcribed in 33 s beside a thread, 28 s beside a
    process, 26 s alone).
    """

    def __init__(self, speaker_model: str, backlog: int = 64):
        self.worker = BackgroundProcess("sound meter", _measured_in_process, (speaker_model,), backlog)

    def measure(self, segment: Segment, audio: np.ndarray, damaged: bool = False) -> None:
        self.worker.put((segment, np.array(audio, dtype=np.float32), damaged))

    def stop(self) -> None:
        self.worker.stop()

    def finish(self) -> tuple[list[SegmentSound], MeasureCost]:
        """Every segment's sound, in time order, and what measuring them cost the meter's process."""
        return self.worker.result()


def _measured_in_process(speaker_model: str, items: Iterator) -> tuple[list[SegmentSound], MeasureCost]:
    from tts_assets.evaluate.speaker import load_embedder

    meter = SoundMeter(load_embedder(speaker_model))
    for item in items:
        meter.measure(*item)
    return meter.finish(), meter.cost


def measure_segments(
    path: Path, segments: Iterable[Segment], embedder: Ge2eEmbedder, cost: MeasureCost | None = None
) -> list[SegmentSound]:
    """Each segment's sound (in the segments' time order), from one streamed decode of `path`."""
    meter = SoundMeter(embedder, cost)
    pending = sorted(segments, key=lambda s: s.start)
    held, held_from = np.zeros(0, np.float32), 0  # the audio kept, and the sample it starts at
    report = DecodeReport()
    started = time.perf_counter()
    for chunk in stream_pcm(path, RATE, chunk_seconds=10.0, report=report):
        meter.cost.decode_s += time.perf_counter() - started
        held = np.concatenate([held, chunk])
        held_until = held_from + len(held)
        while pending and round(pending[0].end * RATE) <= held_until:
            segment = pending.pop(0)
            a, b = (max(0, round(t * RATE) - held_from) for t in (segment.start, segment.end))
            meter.measure(segment, held[a:b], report.damage_within(segment.start, segment.end) is not None)
        keep_from = round(pending[0].start * RATE) if pending else held_until
        # Segments overlap rarely, but one may start before the last one taken ended.
        drop = max(0, min(keep_from, held_until) - held_from)
        held, held_from = held[drop:], held_from + drop
        started = time.perf_counter()
    for segment in pending:  # past the end of the decoded audio: what there is of it
        a = max(0, round(segment.start * RATE) - held_from)
        meter.measure(segment, held[a:], damaged=True)
    meter.cost.audio_s = (held_from + len(held)) / RATE  # the book decoded, not only its segments
    return meter.finish()

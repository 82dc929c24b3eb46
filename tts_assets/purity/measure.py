"""What each transcript segment sounds like, from one streamed decode of the book at 16 kHz:

- its GE2E speaker embeddings, one per 1.6 s window of voiced audio (so a segment that changes voice
  half way shows it), the windows of many segments embedded in one LSTM batch;
- its speech share: the part of its 32 ms windows Silero VAD (the ONNX model faster-whisper
  ships) calls speech;
- its music share: the part of its sounding frames that hold several steady tones for 256 ms or
  more. Instruments hold a pitch, a voice glides: chords of a music bed 12 dB under speech gave
  0.47, the music alone 1.0, LibriVox and Piper speech 0.00-0.04.

Only the audio from the earliest unfinished segment on is held, never the whole book.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tts_assets.audio.decode import DecodeReport, stream_pcm
from tts_assets.evaluate.speaker import Ge2eEmbedder
from tts_assets.segments.model import Segment

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
    import librosa
    from scipy import ndimage

    if len(audio) < TONE_FFT:
        return 0.0
    db = 20 * np.log10(np.abs(librosa.stft(audio, n_fft=TONE_FFT, hop_length=TONE_HOP)) + 1e-9)
    db = db[TONE_BINS[0]:TONE_BINS[1]]
    sounding = db.max(axis=0) > db.max() - SOUNDING_DB
    neighbourhood = ndimage.uniform_filter1d(db, 31, axis=0)  # the mean level of ±15 bins (~120 Hz)
    peaks = (db > neighbourhood + TONE_PROMINENCE_DB) & (db >= ndimage.maximum_filter(db, size=(5, 1)))
    peaks = ndimage.binary_dilation(peaks, structure=np.ones((3, 1), bool))  # a tone may wander one bin
    held = ndimage.minimum_filter1d(peaks.astype(np.uint8), TONE_HOLD, axis=1)
    held = ndimage.maximum_filter1d(held, TONE_HOLD, axis=1) > 0  # back over the frames it was held in
    musical = held.sum(axis=0) >= 3 * TONES  # each tone counts three bins after the dilation
    return float(musical[sounding].mean()) if sounding.any() else 0.0


def measure_segments(
    path: Path, segments: Iterable[Segment], embedder: Ge2eEmbedder, cost: MeasureCost | None = None
) -> list[SegmentSound]:
    """Each segment's sound (in the segments' time order), from one streamed decode of `path`."""
    from faster_whisper.vad import get_vad_model

    cost = cost if cost is not None else MeasureCost()
    vad = get_vad_model()
    pending = sorted(segments, key=lambda s: s.start)
    sounds: list[SegmentSound] = []
    mels: list[tuple[int, np.ndarray]] = []  # (index in sounds, its partials' mels) not yet embedded

    def embed_waiting() -> None:
        started = time.perf_counter()
        batch = np.concatenate([m for _, m in mels])
        threads = torch.get_num_threads()
        # The encoder's matrices are small: a second thread mostly waits for the first. 106 s of
        # a book on 2 busy cores: 31 s with 2 threads, 6 s with one.
        torch.set_num_threads(1)
        try:
            embedded = np.concatenate([embedder.embed_partials(batch[i:i + BATCH_PARTIALS])
                                       for i in range(0, len(batch), BATCH_PARTIALS)])
        finally:
            torch.set_num_threads(threads)
        at = 0
        for index, m in mels:
            sounds[index].partials, at = embedded[at:at + len(m)], at + len(m)
        mels.clear()
        cost.embed_s += time.perf_counter() - started

    def take(segment: Segment, audio: np.ndarray, past_end: bool = False) -> None:
        started = time.perf_counter()
        share = speech_share(audio, vad)
        cost.vad_s += time.perf_counter() - started
        started = time.perf_counter()
        music = music_share(audio)
        cost.music_s += time.perf_counter() - started
        started = time.perf_counter()
        partial_mels = embedder.partial_mels(audio, RATE, WINDOW_STEP_S, MIN_JUDGED_VOICE_S)
        cost.embed_s += time.perf_counter() - started
        damaged = past_end or report.damage_within(segment.start, segment.end) is not None
        sounds.append(SegmentSound(segment.id, segment.start, segment.end, None, share, music, damaged))
        if partial_mels is not None:
            mels.append((len(sounds) - 1, partial_mels))
            if sum(len(m) for _, m in mels) >= BATCH_PARTIALS:
                embed_waiting()

    held, held_from = np.zeros(0, np.float32), 0  # the audio kept, and the sample it starts at
    report = DecodeReport()
    started = time.perf_counter()
    for chunk in stream_pcm(path, RATE, chunk_seconds=10.0, report=report):
        cost.decode_s += time.perf_counter() - started
        held = np.concatenate([held, chunk])
        held_until = held_from + len(held)
        while pending and round(pending[0].end * RATE) <= held_until:
            segment = pending.pop(0)
            a, b = (max(0, round(t * RATE) - held_from) for t in (segment.start, segment.end))
            take(segment, held[a:b])
        keep_from = round(pending[0].start * RATE) if pending else held_until
        # Segments overlap rarely, but one may start before the last one taken ended.
        drop = max(0, min(keep_from, held_until) - held_from)
        held, held_from = held[drop:], held_from + drop
        started = time.perf_counter()
    cost.audio_s = (held_from + len(held)) / RATE
    for segment in pending:  # past the end of the decoded audio: what there is of it
        a = max(0, round(segment.start * RATE) - held_from)
        take(segment, held[a:], past_end=True)
    if mels:
        embed_waiting()
    return sounds

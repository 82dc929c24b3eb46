"""A book that is not one clean voice, for the speaker-purity tests and benchmark: the Piper
narrator's sentences (from the sample book) with a second, real reader's sentences (the LibriVox
clips pocketsphinx ships) inserted, a music intro and a music bed under one sentence (chords with
harmonics over a kick and hi-hat beat, not a sine), and a passage of plain noise.
Every stretch is labelled in the truth (`narrator`, `guest`, `music`, `bed`, `noise`, `gap`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.librivox import LIBRIVOX, librivox_transcripts

RATE = 16000
CHORDS = [(261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66)]
GUEST_CLIPS = ("0870", "0890", "0920")
PAUSE_S = 0.6  # between the narrator's sentences, as the sample book has
TURN_PAUSE_S = 1.0  # before and after another reader, the music and the noise


def music(seconds: float, rate: int = RATE, peak: float = 0.3, seed: int = 0) -> np.ndarray:
    """A pop loop: C–Am–F–G triads (six harmonics each, struck and decaying, 2 s a chord), a kick
    on every beat at 120 bpm and a noise hi-hat between the beats."""
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros_like(t)
    for index, start in enumerate(np.arange(0, seconds, 2.0)):
        inside = (t >= start) & (t < start + 2.0)
        local = t[inside] - start
        envelope = np.minimum(1, local / 0.02) * np.exp(-local * 0.8)
        for pitch in CHORDS[index % len(CHORDS)]:
            for harmonic in range(1, 7):
                out[inside] += envelope * np.sin(2 * np.pi * pitch * harmonic * local) / harmonic**1.5
    rng = np.random.default_rng(seed)
    for beat in np.arange(0, seconds, 0.5):
        inside = (t >= beat) & (t < beat + 0.15)
        local = t[inside] - beat
        out[inside] += 1.5 * np.exp(-local * 30) * np.sin(2 * np.pi * (50 + 100 * np.exp(-local * 40)) * local)
        inside = (t >= beat + 0.25) & (t < beat + 0.3)
        out[inside] += 0.3 * np.exp(-(t[inside] - beat - 0.25) * 80) * rng.standard_normal(inside.sum())
    return (peak * out / np.abs(out).max()).astype(np.float32)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


@dataclass(frozen=True)
class MixedBook:
    audio: Path
    truth: list[dict]  # start, end, kind, text

    def seconds(self, kind: str) -> float:
        return sum(t["end"] - t["start"] for t in self.truth if t["kind"] == kind)


def make_mixed_book(narrator: np.ndarray, sentences: list[dict], out: Path, bed_sentence: int = 6,
                    guests_after: tuple[int, ...] = (2, 5, 9), noise_after: int = 7, bed_db: float = -12.0,
                    guest_clips: tuple[str, ...] = GUEST_CLIPS) -> MixedBook:
    """Write `out` (FLAC, 16 kHz) from the narrator's 16 kHz audio and its sentence spans: a guest
    clip after each sentence of `guests_after`, the bed under `bed_sentence`, noise after `noise_after`."""
    transcripts = librivox_transcripts()
    guests = []
    for clip in guest_clips:
        audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip}.wav", dtype="float32")
        guests.append((soxr.resample(audio, rate, RATE).astype(np.float32), transcripts[clip]))
    level = _rms(np.concatenate([narrator[int(s["start"] * RATE):int(s["end"] * RATE)] for s in sentences]))
    parts, truth, position = [], [], 0

    def add(audio: np.ndarray, kind: str, text: str = "") -> None:
        nonlocal position
        truth.append({"start": position / RATE, "end": (position + len(audio)) / RATE, "kind": kind, "text": text})
        parts.append(audio.astype(np.float32))
        position += len(audio)

    def pause(seconds: float) -> None:
        add(np.zeros(int(seconds * RATE), np.float32), "gap")

    add(music(6.0), "music")
    pause(TURN_PAUSE_S)
    guest = iter(guests)
    for index, sentence in enumerate(sentences):
        speech = narrator[int(sentence["start"] * RATE):int(sentence["end"] * RATE)]
        if index == bed_sentence:
            pause(TURN_PAUSE_S - PAUSE_S)
            bed = music(len(speech) / RATE, peak=1.0, seed=index)[:len(speech)]
            add(speech + bed * (_rms(speech) / _rms(bed)) * 10 ** (bed_db / 20), "bed", sentence["text"])
            pause(TURN_PAUSE_S)
        else:
            add(speech, "narrator", sentence["text"])
            pause(PAUSE_S)
        if index in guests_after:
            audio, text = next(guest)
            pause(TURN_PAUSE_S - PAUSE_S)
            add(audio * level / _rms(audio), "guest", text)
            pause(TURN_PAUSE_S)
        if index == noise_after:
            pause(TURN_PAUSE_S - PAUSE_S)
            add(np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32) * 0.05, "noise")
            pause(TURN_PAUSE_S)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, np.concatenate(parts), RATE)
    (out.with_suffix(".truth.json")).write_text(json.dumps(truth, indent=1) + "\n")
    return MixedBook(out, truth)


def overlap_seconds(clips: list[dict], truth: list[dict], kind: str) -> float:
    """Seconds of the `kind` stretches inside the clips' [start, end] spans."""
    return sum(max(0.0, min(c["end"], t["end"]) - max(c["start"], t["start"]))
               for c in clips for t in truth if t["kind"] == kind)

"""Verdicts on measured segments: music, non-speech, or a voice other than the book's narrator.

The voice is estimated robustly from its segments (of every book measured so far): the medoid
(the segment most similar to all others, on an even subsample of at most `MEDOID_SAMPLE`), then
the mean of the segments nearest to it, leaving out the `reference_trim` share farthest (a 20%
minority of another reader moves neither). A segment's similarity is its *lowest* 1.6 s window's
cosine to the voice, so a segment that turns into another voice half way is caught too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from tts_assets.evaluate.speaker import utterance_embedding
from tts_assets.manifest.schema import Reason
from tts_assets.purity.measure import WINDOW_STEP_S, SegmentSound
from tts_assets.settings import SpeakerSettings

MEDOID_SAMPLE = 2000  # the medoid's similarity matrix is quadratic in this


@dataclass
class Verdict:
    segment_id: str
    start: float
    end: float
    similarity: float | None  # None: too little voice to embed, or not speech
    reason: Reason | None  # None: kept
    detail: str = ""


def sound_rejection(sound: SegmentSound, settings: SpeakerSettings) -> tuple[Reason, str] | None:
    """Music or non-speech, from the sound alone (before any voice is compared)."""
    if sound.music_share > settings.max_music_share:
        return Reason.MUSIC, (f"{sound.music_share:.0%} of its sound holds steady tones (music) "
                              f"> {settings.max_music_share:.0%}")
    if sound.speech_share < settings.min_speech_share:
        return Reason.NON_SPEECH, (f"voice activity detection hears speech in {sound.speech_share:.0%} of it "
                                   f"< {settings.min_speech_share:.0%}")
    return None


def voice_reference(embeddings: np.ndarray, trim: float) -> np.ndarray:
    """The voice's embedding: the trimmed mean around the medoid (see the module)."""
    step = max(1, len(embeddings) // MEDOID_SAMPLE)
    sample = embeddings[::step]
    medoid = sample[np.argmax((sample @ sample.T).sum(axis=1))]
    similarity = embeddings @ medoid
    nearest = similarity >= np.quantile(similarity, trim) if len(embeddings) > 1 else slice(None)
    return utterance_embedding(embeddings[nearest])


def judge(sounds: list[SegmentSound], reference: np.ndarray | None, settings: SpeakerSettings) -> list[Verdict]:
    """A verdict per segment: music, non_speech, other_speaker or kept (with its similarity)."""
    verdicts = []
    for sound in sounds:
        if sound.damaged:  # its silence-filled damage says nothing of its sound: the cut rejects it
            verdicts.append(Verdict(sound.segment_id, sound.start, sound.end, None, None))
            continue
        rejected = sound_rejection(sound, settings)
        if rejected:
            verdicts.append(Verdict(sound.segment_id, sound.start, sound.end, None, *rejected))
            continue
        if sound.partials is None or reference is None:
            verdicts.append(Verdict(sound.segment_id, sound.start, sound.end, None, None))
            continue
        windows = sound.partials @ reference
        lowest = int(np.argmin(windows))
        similarity = round(float(windows[lowest]), 4)
        if similarity < settings.min_similarity:
            # Windows follow each other in the voiced audio: roughly where in the segment.
            at = sound.start + min(lowest * WINDOW_STEP_S, sound.end - sound.start)
            verdicts.append(Verdict(sound.segment_id, sound.start, sound.end, similarity, Reason.OTHER_SPEAKER,
                                    f"another voice near {at:.1f} s: similarity to the voice {similarity:.3f} "
                                    f"< {settings.min_similarity}"))
        else:
            verdicts.append(Verdict(sound.segment_id, sound.start, sound.end, similarity, None))
    return verdicts


def voice_share(verdicts: list[Verdict]) -> float | None:
    """The share of the compared speech (seconds) that is the voice; None when none was compared."""
    compared = [v for v in verdicts if v.similarity is not None]
    total = sum(v.end - v.start for v in compared)
    if not total:
        return None
    return sum(v.end - v.start for v in compared if v.reason is None) / total


def similarity_histogram(verdicts: list[Verdict], bins: int = 20) -> dict:
    """Counts of segment similarities in `bins` equal bins over [0, 1]."""
    values = [v.similarity for v in verdicts if v.similarity is not None]
    counts, edges = np.histogram(np.clip(values, 0, 1), bins=bins, range=(0, 1))
    return {"edges": [round(float(e), 3) for e in edges], "counts": counts.tolist()}


def similarity_histogram_png(verdicts: list[Verdict], threshold: float, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = [v.similarity for v in verdicts if v.similarity is not None and v.reason is None]
    other = [v.similarity for v in verdicts if v.reason is Reason.OTHER_SPEAKER]
    figure, axes = plt.subplots(figsize=(6, 3), dpi=100)
    axes.hist([kept, other], bins=40, range=(0, 1), stacked=True, color=["#4f6fb0", "#c0504d"],
              label=["the voice", "other_speaker"], edgecolor="white")
    axes.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"min_similarity {threshold}")
    axes.set_xlabel("lowest 1.6 s window's similarity to the voice")
    axes.set_ylabel("segments")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def nearest_threshold(verdicts: list[Verdict], threshold: float, count: int) -> list[Verdict]:
    """The compared segments whose similarity lies nearest the threshold, either side."""
    compared = [v for v in verdicts if v.similarity is not None]
    return sorted(compared, key=lambda v: abs(v.similarity - threshold))[:count]

"""Signal measures of one clip: clipping, signal-to-noise, silence, loudness."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FRAME_S = 0.02


@dataclass(frozen=True)
class ClipMeasures:
    clipping: float  # share of samples at (or within 0.1% of) full scale
    snr_db: float  # loud frames vs quiet frames, in dB
    silence: float  # share of 20 ms frames 40 dB below the loudest
    loudness_lufs: float | None  # ITU-R BS.1770 integrated loudness (None when too short)

    def to_dict(self) -> dict:
        return asdict(self)


def _frame_rms(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    size = max(1, int(FRAME_S * sample_rate))
    count = len(audio) // size
    if count == 0:
        return np.zeros(1)
    frames = audio[: count * size].astype(np.float64).reshape(count, size)
    return np.sqrt(np.mean(frames**2, axis=1))


def measure(audio: np.ndarray, sample_rate: int) -> ClipMeasures:
    import pyloudnorm

    rms = _frame_rms(audio, sample_rate)
    peak = float(rms.max())
    clipping = float(np.mean(np.abs(audio) >= 0.999)) if len(audio) else 0.0
    if peak <= 0:
        return ClipMeasures(clipping, 0.0, 1.0, None)
    # Speech level: the loud tenth of frames; noise floor: the quiet tenth (pauses between words).
    signal = np.percentile(rms, 90)
    noise = max(np.percentile(rms, 10), 1e-6)
    snr_db = float(20 * np.log10(max(signal, 1e-6) / noise))
    silence = float(np.mean(rms < peak * 10 ** (-40 / 20)))
    loudness = None
    if len(audio) >= int(0.4 * sample_rate):
        value = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.astype(np.float64))
        loudness = None if not np.isfinite(value) else round(float(value), 2)
    return ClipMeasures(round(clipping, 6), round(snr_db, 2), round(silence, 4), loudness)


def normalize_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float) -> np.ndarray:
    """Gain to the target integrated loudness, limited so no sample exceeds -1 dBFS."""
    import pyloudnorm

    current = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.astype(np.float64))
    if not np.isfinite(current):
        return audio
    gain = 10 ** ((target_lufs - current) / 20)
    peak = float(np.abs(audio).max()) or 1.0
    gain = min(gain, 10 ** (-1 / 20) / peak)
    return (audio * gain).astype(np.float32)

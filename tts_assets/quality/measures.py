"""Signal measures of one clip: clipping, signal-to-noise, silence, loudness, bandwidth."""

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
    bandwidth_hz: float | None  # where the speech's spectrum ends (see `bandwidth_hz`; None when too short)

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
        return ClipMeasures(clipping, 0.0, 1.0, None, None)
    # Speech level: the loud tenth of frames; noise floor: the quiet tenth (pauses between words).
    signal = np.percentile(rms, 90)
    noise = max(np.percentile(rms, 10), 1e-6)
    snr_db = float(20 * np.log10(max(signal, 1e-6) / noise))
    silence = float(np.mean(rms < peak * 10 ** (-40 / 20)))
    loudness = None
    if len(audio) >= int(0.4 * sample_rate):
        value = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.astype(np.float64))
        loudness = None if not np.isfinite(value) else round(float(value), 2)
    return ClipMeasures(round(clipping, 6), round(snr_db, 2), round(silence, 4), loudness,
                        bandwidth_hz(audio, sample_rate))


# The band edge: the highest frequency of the clip's long-term spectrum (Welch) within this many dB
# of the level of its speech band (the loud tenth of the bins under 4 kHz). Clean clips of one
# voice lie within 5% of its median (Piper 9.0 kHz, LibriVox 64 kbps MP3 7.2, espeak-ng 10.9-11.2,
# Asterisk's 8 kHz prompts 4.4); a telephone band reads 4.0-4.1 kHz, MP3 at 16 kbps 5.6-5.7.
BAND_EDGE_DB = 50.0
SPEECH_BAND_HZ = 4000.0


def bandwidth_hz(audio: np.ndarray, sample_rate: int) -> float | None:
    from scipy.signal import welch

    if len(audio) < 256:
        return None
    frequencies, power = welch(audio.astype(np.float64), fs=sample_rate, nperseg=min(1024, len(audio)))
    level = 10 * np.log10(power + 1e-20)
    speech = level[frequencies < SPEECH_BAND_HZ]
    if not speech.size or power.max() <= 0:
        return None
    reached = np.nonzero(level >= np.percentile(speech, 90) - BAND_EDGE_DB)[0]
    return round(float(frequencies[reached[-1]]), 1)


def median_bandwidth(rows: list[dict]) -> float | None:
    """The median `quality_bandwidth_hz` of the rows that have one."""
    known = [row["quality_bandwidth_hz"] for row in rows if row.get("quality_bandwidth_hz") is not None]
    return float(np.median(known)) if known else None


def narrow_band(rows: list[dict], below_median: float) -> dict[int, str]:
    """The rows (with `quality_bandwidth_hz`) whose band ends below `below_median` × the median of
    these rows: a telephone insert, a chapter from a low-bitrate copy, in a voice recorded wider.
    Relative to the voice, so a voice recorded narrow throughout keeps its clips."""
    median = median_bandwidth(rows)
    if median is None:
        return {}
    return {i: f"band ends at {row['quality_bandwidth_hz'] / 1000:.1f} kHz < {below_median} × the voice's "
               f"median {median / 1000:.1f} kHz"
            for i, row in enumerate(rows)
            if row.get("quality_bandwidth_hz") is not None and row["quality_bandwidth_hz"] < below_median * median}


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

"""Known degradations of a clean clip (for the DNSMOS floor's measurements and tests): white noise
at a given SNR, room reverberation, a telephone band, low-bitrate MP3."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def with_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at `snr_db` below the clip's mean speech power."""
    power = float(np.mean(audio.astype(np.float64) ** 2))
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(audio))
    return _fit(audio + noise)


def with_reverb(audio: np.ndarray, rate: int, rt60_s: float = 0.8, seed: int = 0) -> np.ndarray:
    """Convolved with a synthetic room response: noise decaying by 60 dB over `rt60_s`."""
    from scipy.signal import fftconvolve

    t = np.arange(int(rt60_s * rate)) / rate
    response = np.random.default_rng(seed).normal(0, 1, len(t)) * 10 ** (-3 * t / rt60_s)
    response[0] = 1.0  # the direct sound
    wet = fftconvolve(audio, response)[: len(audio)]
    return _fit(wet * np.sqrt(np.mean(audio**2) / max(np.mean(wet**2), 1e-12)))


def band_limited(audio: np.ndarray, rate: int, low_hz: float = 300, high_hz: float = 3400) -> np.ndarray:
    """A telephone band (8th-order Butterworth band-pass)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(8, [low_hz, high_hz], btype="bandpass", fs=rate, output="sos")
    return _fit(sosfiltfilt(sos, audio))


def as_mp3(audio: np.ndarray, rate: int, kbps: int = 16) -> np.ndarray:
    """Encoded to MP3 at `kbps` with ffmpeg's LAME and decoded back."""
    with tempfile.TemporaryDirectory() as folder:
        wav, mp3 = Path(folder) / "in.wav", Path(folder) / "out.mp3"
        sf.write(wav, audio, rate)
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-b:a", f"{kbps}k", str(mp3)], check=True)
        decoded, _ = sf.read(mp3, dtype="float32")
    return decoded[: len(audio)]


def degradations(audio: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    return {
        "noise 20 dB": with_noise(audio, 20), "noise 10 dB": with_noise(audio, 10), "noise 5 dB": with_noise(audio, 5),
        "reverb 0.8 s": with_reverb(audio, rate), "band 300-3400 Hz": band_limited(audio, rate),
        "mp3 16 kbps": as_mp3(audio, rate, 16),
    }


def _fit(audio: np.ndarray) -> np.ndarray:
    """Scaled down only if it would clip."""
    peak = float(np.abs(audio).max()) or 1.0
    return (audio / max(1.0, peak / 0.99)).astype(np.float32)

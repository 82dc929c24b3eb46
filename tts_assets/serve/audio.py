"""Audio out: joining pieces, speed change, and the response formats.

wav and flac: 16-bit PCM via soundfile; mp3: soundfile when its libsndfile writes MP3 (1.1.0 and
later), else PyAV's libmp3lame; pcm: raw signed 16-bit little-endian mono samples (OpenAI's `pcm`),
the same samples as the wav. Streamed (piece by piece, see StreamEncoder): wav (a header of unknown
length, then the samples), pcm, and mp3 (one encoder for the whole response). `speed` is a
phase-vocoder time stretch (librosa): the pitch stays, quality drops audibly far from 1.0; 0.25-4.0
as OpenAI allows.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "pcm": "audio/pcm"}
STREAMED_FORMATS = ("wav", "pcm", "mp3")
MIN_SPEED, MAX_SPEED = 0.25, 4.0
UNKNOWN_LENGTH = 0xFFFFFFFF  # what streaming WAV writers put in the RIFF and data sizes


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(round(seconds * rate)), dtype=np.float32)


def join(pieces: list[np.ndarray], rate: int, pause_s: float) -> np.ndarray:
    gap = silence(pause_s, rate)
    parts = []
    for index, piece in enumerate(pieces):
        if index:
            parts.append(gap)
        parts.append(np.asarray(piece, dtype=np.float32).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def change_speed(audio: np.ndarray, speed: float) -> np.ndarray:
    if speed == 1.0 or len(audio) == 0:
        return audio
    import librosa

    return librosa.effects.time_stretch(np.asarray(audio, dtype=np.float32), rate=speed).astype(np.float32)


def _soundfile(audio: np.ndarray, rate: int, **options) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, **options)
    return buffer.getvalue()


def to_int16(audio: np.ndarray) -> np.ndarray:
    """The one float → 16-bit conversion, so every format carries the same samples."""
    return (np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0) * 32767).round().astype(np.int16)


def mp3_with_pyav(audio: np.ndarray, rate: int, bitrate: int = 64000) -> bytes:
    import av

    samples = audio if audio.dtype == np.int16 else to_int16(audio)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame" if "libmp3lame" in av.codecs_available else "mp3", rate=rate)
        stream.layout = "mono"
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def soundfile_writes_mp3() -> bool:
    return "MP3" in sf.available_formats()


def encode(audio: np.ndarray, rate: int, response_format: str) -> bytes:
    audio = to_int16(audio)
    if response_format == "wav":
        return _soundfile(audio, rate, format="WAV", subtype="PCM_16")
    if response_format == "flac":
        return _soundfile(audio, rate, format="FLAC", subtype="PCM_16")
    if response_format == "pcm":
        return _soundfile(audio, rate, format="RAW", subtype="PCM_16", endian="LITTLE")
    if response_format == "mp3":
        if soundfile_writes_mp3():
            return _soundfile(audio, rate, format="MP3", subtype="MPEG_LAYER_III")
        return mp3_with_pyav(audio, rate)
    raise ValueError(f"unsupported response format {response_format!r}")


def streaming_wav_header(rate: int) -> bytes:
    """16-bit mono PCM WAV header whose sizes say 'unknown': the length is not known when it is sent."""
    return (b"RIFF" + struct.pack("<I", UNKNOWN_LENGTH) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", UNKNOWN_LENGTH))


class StreamEncoder:
    """One streamed response's audio, piece by piece; concatenated, the chunks make one playable
    stream. mp3 goes through one encoder for the whole response (PyAV's libmp3lame), without the
    Xing header whose frame count is unknown when it is sent (decoders that trust it would stop
    after the first piece)."""

    def __init__(self, response_format: str, rate: int, bitrate: int = 64000):
        if response_format not in STREAMED_FORMATS:
            raise ValueError(f"response format {response_format!r} cannot be streamed")
        self.format, self.rate = response_format, rate
        self._started = False
        if response_format == "mp3":
            import av

            self._buffer = io.BytesIO()
            self._sent = 0
            self._container = av.open(self._buffer, "w", format="mp3", options={"write_xing": "0"})
            self._stream = self._container.add_stream(
                "libmp3lame" if "libmp3lame" in av.codecs_available else "mp3", rate=rate)
            self._stream.layout = "mono"
            self._stream.bit_rate = bitrate

    def encode(self, audio: np.ndarray) -> bytes:
        samples = to_int16(audio).astype("<i2")
        if self.format == "mp3":
            import av

            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            return self._drain()
        header = streaming_wav_header(self.rate) if self.format == "wav" and not self._started else b""
        self._started = True
        return header + samples.tobytes()

    def finish(self) -> bytes:
        """What the encoder still holds (mp3's last frames)."""
        if self.format != "mp3":
            return b""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self.close()
        return self._drain()

    def close(self) -> None:
        if self.format == "mp3" and self._container is not None:
            self._container.close()
            self._container = None

    def _drain(self) -> bytes:
        written = self._buffer.getbuffer()
        new = bytes(written[self._sent :])
        self._sent = len(written)
        return new

"""Streaming decode to mono float32 at a chosen rate, in bounded chunks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from tts_assets.audio.probe import open_audio
from tts_assets.errors import UnreadableAudioError

# A file whose damaged stretches add up to more than this share of what was decoded is not a
# damaged book but something that is not audio: it is refused whole.
MAX_DAMAGED_SHARE = 0.5
MAX_DEMUX_RETRIES = 100  # demuxer failures in a row before the rest of the file counts as lost
MAX_GAP_S = 0.01  # a jump in frame times beyond this is missing audio


@dataclass
class DecodeReport:
    """What one decode found: stretches the decoder could not read (in seconds, filled with
    silence so later audio keeps its time) and the decoded length."""

    damaged: list[tuple[float, float]] = field(default_factory=list)
    seconds: float = 0.0

    def damage_within(self, start: float, end: float) -> tuple[float, float] | None:
        """The first damaged stretch that overlaps [start, end], if any."""
        return next(((a, b) for a, b in self.damaged if a < end and b > start), None)

    def note(self, start: float, end: float) -> None:
        if self.damaged and start <= self.damaged[-1][1] + 1e-3:
            self.damaged[-1] = (self.damaged[-1][0], max(end, self.damaged[-1][1]))
        else:
            self.damaged.append((start, end))


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """Average the channels of a packed float frame: libswresample's own mono downmix sums them
    with its mix levels (a 6-channel file with the same signal in each reached 3.25 × full scale).
    Packed, not planar: PyAV's planar arrays of 8 channels crash (segfault, PyAV 18.1)."""
    channels = len(frame.layout.channels)
    samples = frame.to_ndarray().reshape(-1, channels)
    return samples.mean(axis=1, dtype=np.float32) if channels > 1 else samples.reshape(-1)


def _silence_like(frame: av.AudioFrame, samples: int) -> av.AudioFrame:
    """Silence in the frame's own format, fed through the resampler like audio so that what follows
    keeps its place to the sample."""
    silence = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=samples)
    silence.sample_rate = frame.sample_rate
    for plane in silence.planes:
        plane.update(bytes(plane.buffer_size))
    return silence


def _packet_seconds(packet: av.Packet) -> tuple[float, float] | None:
    if packet.pts is None or packet.time_base is None:
        return None
    start = float(packet.pts * packet.time_base)
    return start, start + float((packet.duration or 0) * packet.time_base)


def _packets(container, stream, path: Path) -> Iterator[av.Packet | None]:
    """The stream's packets; None where the demuxer failed and was started again past the damage
    (Ogg and raw streams resynchronize at the next page or frame)."""
    failures = 0
    while True:
        try:
            for packet in container.demux(stream):
                failures = 0
                yield packet
            return
        except av.error.FFmpegError as exc:
            failures += 1
            if failures > MAX_DEMUX_RETRIES:
                raise UnreadableAudioError(path, f"cannot read past damage: {exc}") from exc
            yield None


def stream_pcm(
    path: Path,
    sample_rate: int,
    chunk_seconds: float = 10.0,
    expected_duration: float | None = None,
    report: DecodeReport | None = None,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 chunks of about `chunk_seconds` at `sample_rate`.

    Memory stays at one chunk whatever the length of the book. A packet the decoder cannot read
    (a damaged stretch) is replaced by silence of its length, so later audio keeps its time, and
    noted in `report.damaged`; ffmpeg decodes past such damage too. A file that gives no audio, is
    mostly damage, or ends well before the `expected_duration` its header announced (a truncated
    copy) raises `UnreadableAudioError` naming the file.
    """
    report = report if report is not None else DecodeReport()
    chunk_samples = max(1, int(chunk_seconds * sample_rate))
    # Keep the source's channels (layout None): they are averaged here, see `_mono`.
    resampler = av.AudioResampler(format="flt", layout=None, rate=sample_rate)
    pending: list[np.ndarray] = []
    pending_samples = 0
    emitted = 0  # samples yielded so far
    heard_until = 0.0  # end of the last frame decoded, in the source's time
    damage_pending = False  # a packet failed: the next good frame shows how long the gap is
    stream_shape = None  # rate, layout and sample format of the first frame

    def append(samples: np.ndarray) -> None:
        nonlocal pending_samples
        pending.append(samples)
        pending_samples += len(samples)

    with open_audio(path) as container:
        stream = container.streams.audio[0]
        for packet in _packets(container, stream, path):
            if packet is None:  # the demuxer lost its place and found it again
                damage_pending = True
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:  # this packet only: the demuxer goes on
                span = _packet_seconds(packet) or (heard_until, heard_until)
                report.note(min(span[0], heard_until), max(span[1], heard_until))
                damage_pending = True
                continue
            for frame in frames:
                # A frame decoded from damage may carry no time of its own: its packet's.
                at = frame.time if frame.time is not None else (_packet_seconds(packet) or (None,))[0]
                shape = (frame.sample_rate, frame.layout.name, frame.format.name)
                stream_shape = stream_shape or shape
                # Garbage that parsed as a frame of another format, or with no time in a stream
                # whose frames have times (FLAC resynchronizing on a false frame header).
                if shape != stream_shape or at is None and heard_until > 0:
                    at = heard_until if at is None else at
                    report.note(at, at + frame.samples / max(frame.sample_rate, 1))
                    damage_pending = True
                    continue
                trim = 0  # output samples of this frame that repeat time already heard
                if at is not None:
                    # Audio missing before this frame (skipped packets, a resynced demuxer): silence
                    # of its length keeps the time. Not before the first frame, which may start late.
                    gap, seconds = at - heard_until, frame.samples / frame.sample_rate
                    if emitted + pending_samples and (gap > MAX_GAP_S or damage_pending and gap > 0):
                        report.note(heard_until, at)
                        for out in resampler.resample(_silence_like(frame, round(gap * frame.sample_rate))):
                            append(_mono(out))
                    elif report.damaged and gap < -MAX_GAP_S:  # garbage decoded as audio went on too long
                        if -gap >= seconds:
                            continue
                        trim = round(-gap * sample_rate)
                    heard_until = max(heard_until, at + seconds)
                damage_pending = damage_pending and frame.time is None  # still in the damage
                for out in resampler.resample(frame):
                    samples = _mono(out)
                    append(samples[trim:])
                    trim = max(0, trim - len(samples))
            if pending_samples >= chunk_samples:
                joined = np.concatenate(pending)
                for start in range(0, len(joined) - chunk_samples + 1, chunk_samples):
                    yield joined[start : start + chunk_samples]
                rest = joined[len(joined) - len(joined) % chunk_samples :]
                emitted += len(joined) - len(rest)
                pending, pending_samples = [rest], len(rest)
        for out in resampler.resample(None):
            append(_mono(out))
    tail = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    if len(tail):
        yield tail
    report.seconds = (emitted + len(tail)) / sample_rate
    damaged = sum(b - a for a, b in report.damaged)
    if not report.seconds:
        raise UnreadableAudioError(path, "no audio could be decoded")
    if damaged > MAX_DAMAGED_SHARE * report.seconds:
        raise UnreadableAudioError(path, f"{damaged:.1f} s of {report.seconds:.1f} s could not be decoded")
    if expected_duration and report.seconds < expected_duration - max(1.0, 0.02 * expected_duration):
        raise UnreadableAudioError(
            path, f"truncated: audio ends at {report.seconds:.1f} s of the {expected_duration:.1f} s announced"
        )


def decode_clip(path: Path, sample_rate: int, max_seconds: float) -> tuple[np.ndarray | None, DecodeReport]:
    """A short clip decoded whole at `sample_rate`, or None when it runs past `max_seconds`.

    Its length is the decoded one, not the header's (a VBR MP3 without a Xing header announced
    7.3 s and held 61 s); decoding stops at the bound, so a mislabelled long file costs no more.
    """
    report = DecodeReport()
    chunks, total = [], 0
    decoding = stream_pcm(path, sample_rate, chunk_seconds=1.0, report=report)
    for chunk in decoding:
        chunks.append(chunk)
        total += len(chunk)
        if total > max_seconds * sample_rate:
            decoding.close()
            report.seconds = total / sample_rate
            return None, report
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), report

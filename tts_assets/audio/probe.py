"""What an audio file is: duration, format, stream parameters and chapter marks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from tts_assets.errors import UnreadableAudioError


@dataclass
class Chapter:
    title: str
    start: float
    end: float


@dataclass
class AudioInfo:
    path: str
    duration: float
    sample_rate: int
    channels: int
    codec: str
    container: str
    bit_rate: int | None
    size_bytes: int
    title: str | None = None
    chapters: list[Chapter] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def open_audio(path: Path) -> av.container.InputContainer:
    """Open a file that must hold an audio stream, or raise one clear error naming it."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableAudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise UnreadableAudioError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise UnreadableAudioError(path, f"not a decodable audio file: {exc}") from exc
    if not container.streams.audio:
        container.close()
        raise UnreadableAudioError(path, "the file has no audio stream")
    return container


def probe(path: Path) -> AudioInfo:
    path = Path(path)
    with open_audio(path) as container:
        stream = container.streams.audio[0]
        if container.duration is not None:
            duration = container.duration / av.time_base
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = 0.0
        chapters = [
            Chapter(
                title=(ch["metadata"] or {}).get("title", f"Chapter {i + 1}"),
                start=float(ch["start"] * ch["time_base"]),
                end=float(ch["end"] * ch["time_base"]),
            )
            for i, ch in enumerate(container.chapters())
        ]
        return AudioInfo(
            path=str(path),
            duration=round(duration, 3),
            sample_rate=stream.codec_context.sample_rate,
            channels=stream.codec_context.channels,
            codec=stream.codec_context.name,
            container=container.format.name,
            bit_rate=container.bit_rate or None,
            size_bytes=path.stat().st_size,
            title=container.metadata.get("title"),
            chapters=chapters,
        )

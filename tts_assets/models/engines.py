"""TTS engines behind one small interface, and which checkpoint of a voice is served.

An engine knows a voice's checkpoints (`checkpoints`: complete ones, oldest first), which one to
serve when none is promoted (`fallback`), and how to load one (`load`) into a `Synthesizer`:
`speak(text, max_seconds, seed)` → (float32 mono waveform, sample rate), `max_seconds` capping
generation (runaway guard). The server and the evaluation use nothing else: an engine plugs in by
being added to `ENGINES`.

- Qwen3-TTS: `<data_root>/models/<voice>/qwen3/checkpoint-<step>/` (custom-voice checkpoints);
  fallback: the newest.
- XTTS-v2: `<data_root>/models/<voice>/xtts/<run>/checkpoint_<step>.pth` of the run named in the
  voice's XTTS config (`<data root>/configs/tts/<voice>_xtts.yaml`, or $TTS_ASSETS_XTTS_CONFIGS), spoken with
  `tts_assets.xtts.inference` and the config's conditioning clips; fallback: the config's
  `samples.checkpoint` (best, else newest). A voice with an `xtts/` folder but no readable config
  is skipped with a warning.

The served checkpoint of a voice and engine is the promoted one (`latest.json`, written when a
checkpoint passes its evaluation) while it still exists, else the engine's fallback (unless
`require_promoted`).
"""

from __future__ import annotations

import logging
import math
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from tts_assets.errors import TtsAssetsError
from tts_assets.models.promotion import read_promoted, step_of
from tts_assets.layout import DataLayout
from tts_assets.errors import encodable

log = logging.getLogger(__name__)


class Synthesizer(Protocol):
    engine: str
    checkpoint: Path

    def speak(self, text: str, *, max_seconds: float, seed: int | None = None) -> tuple[np.ndarray, int]: ...

    def close(self) -> None: ...


class Engine(Protocol):
    name: str

    def checkpoints(self, layout: DataLayout, voice: str) -> list[Path]: ...

    def fallback(self, layout: DataLayout, voice: str, found: list[Path]) -> Path | None: ...

    def load(self, layout: DataLayout, voice: str, checkpoint: Path, device: str) -> Synthesizer: ...


class Qwen3Synthesizer:
    engine = "qwen3"
    frame_rate = 12.5  # codec frames per second

    def __init__(self, checkpoint: Path, device: str):
        from transformers.utils import logging as transformers_logging

        from tts_assets.qwen3.inference import Qwen3Voice

        self.checkpoint = Path(checkpoint)
        # Our checkpoints keep the speaker encoder for resuming; a custom-voice model does not use
        # it, and transformers lists every one of its tensors as "not used": expected, so quiet.
        level = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        try:
            self.voice = Qwen3Voice(self.checkpoint, device)
        finally:
            transformers_logging.set_verbosity(level)
        self.device = str(self.voice.model.model.device)

    def speak(self, text: str, *, max_seconds: float, seed: int | None = None) -> tuple[np.ndarray, int]:
        tokens = max(1, math.ceil(max_seconds * self.frame_rate))
        return self.voice.speak(text, max_new_tokens=tokens, seed=seed)

    def close(self) -> None:
        import torch

        del self.voice
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class Qwen3Engine:
    name = "qwen3"

    def checkpoints(self, layout: DataLayout, voice: str) -> list[Path]:
        from tts_assets.qwen3.checkpoint import checkpoints
        from tts_assets.qwen3.paths import run_dir

        return checkpoints(run_dir(layout, voice))

    def fallback(self, layout: DataLayout, voice: str, found: list[Path]) -> Path | None:
        return found[-1] if found else None

    def load(self, layout: DataLayout, voice: str, checkpoint: Path, device: str) -> Synthesizer:
        return Qwen3Synthesizer(checkpoint, device)


class XttsSynthesizer:
    engine = "xtts"

    def __init__(self, layout: DataLayout, config, checkpoint: Path, device: str):
        from tts_assets.xtts.inference import load_voice

        self.config = config
        self.checkpoint = Path(checkpoint)
        self.voice = load_voice(layout, config, self.checkpoint, device)

    def speak(self, text: str, *, max_seconds: float, seed: int | None = None) -> tuple[np.ndarray, int]:
        from tts_assets.xtts.config import OUTPUT_RATE
        from tts_assets.xtts.inference import synthesize

        config = self.config
        if seed is not None:
            config = config.model_copy(update={"samples": config.samples.model_copy(update={"seed": seed})})
        audio = synthesize(self.voice, config, text)
        # XTTS stops at its own token limit; the cap only bounds what is returned.
        return audio[: int(max_seconds * OUTPUT_RATE)], OUTPUT_RATE

    def close(self) -> None:
        import torch

        del self.voice
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class XttsEngine:
    name = "xtts"

    @staticmethod
    def config(layout: DataLayout, voice: str):
        from tts_assets.xtts.config import XttsVoiceConfig

        return XttsVoiceConfig.for_voice(layout, voice)

    def checkpoints(self, layout: DataLayout, voice: str) -> list[Path]:
        from tts_assets.xtts.checkpoint import voice_checkpoints

        try:
            self.config(layout, voice)  # without a valid voice config a checkpoint cannot be loaded
        except TtsAssetsError as error:
            log.warning("voice %s: XTTS checkpoints not served: %s", voice, error)
            return []
        # Every run's, so a checkpoint promoted in an older run is still recognised as served.
        return voice_checkpoints(layout, voice)

    def fallback(self, layout: DataLayout, voice: str, found: list[Path]) -> Path | None:
        from tts_assets.xtts.inference import resolve_checkpoint

        if not found:
            return None
        try:
            return resolve_checkpoint(layout, self.config(layout, voice))
        except TtsAssetsError:
            return found[-1]

    def load(self, layout: DataLayout, voice: str, checkpoint: Path, device: str) -> Synthesizer:
        return XttsSynthesizer(layout, self.config(layout, voice), checkpoint, device)


ENGINES: dict[str, Engine] = {"qwen3": Qwen3Engine(), "xtts": XttsEngine()}
ENGINE_NAMES = tuple(ENGINES)  # a request's `model` naming one of these asks for that engine


@dataclass(frozen=True)
class Served:
    voice: str
    engine: str
    checkpoint: Path
    step: int | None
    promoted: bool
    checkpoints: int  # complete checkpoints of this voice and engine

    def describe(self) -> dict:
        return {"engine": self.engine, "checkpoint": str(self.checkpoint), "name": self.checkpoint.name,
                "step": self.step, "promoted": self.promoted, "checkpoints": self.checkpoints}


def served_checkpoint(layout: DataLayout, voice: str, engine: str, require_promoted: bool = False,
                      engines: dict[str, Engine] | None = None) -> Served | None:
    chosen = (ENGINES if engines is None else engines)[engine]
    found = chosen.checkpoints(layout, voice)
    promoted = read_promoted(layout, voice, engine)
    if promoted:
        path = Path(promoted["path"])
        if any(p.resolve() == path.resolve() for p in found):
            return Served(voice, engine, path, step_of(path), True, len(found))
    fallback = None if require_promoted else chosen.fallback(layout, voice, found)
    if fallback is None:
        return None
    return Served(voice, engine, fallback, step_of(fallback), False, len(found))


_logged: set[str] = set()  # discovery runs on every request: each problem is logged once


def discover(layout: DataLayout, require_promoted: bool = False, engines: dict[str, Engine] | None = None,
             problems: dict[tuple[str, str | None], str] | None = None) -> dict[str, dict[str, Served]]:
    """voice → engine → the checkpoint served, for every voice with a servable checkpoint.

    A voice whose files cannot be read (an unreadable voice folder or `latest.json`, ...) or whose
    folder name is not UTF-8 is left out, with a warning, so that it does not break the other
    voices; its cause goes into `problems` under (voice, engine), engine None when it is the whole
    voice's. Clients see these: names and causes are encodable, paths relative to the data root."""
    engines = ENGINES if engines is None else engines
    models = layout.root / "models"
    voices: dict[str, dict[str, Served]] = {}

    def not_served(voice: str, engine: str | None, cause: str) -> None:
        cause = encodable(cause.replace(f"{layout.root}{os.sep}", ""))
        if problems is not None:
            problems[voice, engine] = cause
        message = f"voice {voice}: {f'{engine} ' if engine else ''}checkpoints not served: {cause}"
        if message not in _logged:
            _logged.add(message)
            log.warning(message)

    if not models.is_dir():
        return voices
    for folder in sorted(p for p in models.iterdir() if p.is_dir() and not p.name.startswith(".")):
        voice = encodable(folder.name)
        if voice != folder.name:  # surrogate escapes: no JSON body, header or request can carry the name
            not_served(voice, None, "folder name is not valid UTF-8; rename it")
            continue
        try:
            present = [name for name in engines if (folder / name).is_dir()]
        except OSError as exc:  # a voice folder this user cannot search (chmod 000, another owner)
            not_served(voice, None, str(exc))
            continue
        for name in present:
            try:
                served = served_checkpoint(layout, voice, name, require_promoted, engines)
            except Exception as exc:  # noqa: BLE001 - any cause; the others are still served
                not_served(voice, name, str(exc) or type(exc).__name__)
                continue
            if served:
                voices.setdefault(voice, {})[name] = served
    return voices


def voice_named(voice: str, names: list[str]) -> str:
    """The name among `names` that a request's `voice` means: itself, else the one equal to it once
    NFC-normalized (macOS writes folder names decomposed, clients send them composed); else `voice`."""
    if voice in names:
        return voice
    wanted = unicodedata.normalize("NFC", voice)
    return next((name for name in names if unicodedata.normalize("NFC", name) == wanted), voice)

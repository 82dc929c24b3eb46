"""The speech service behind the HTTP API: the voices of the data root, the loaded checkpoints
(least recently used unloaded first), and the device's queue, whose jobs are dropped (or stopped
after their current piece) when their client goes away."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future

import numpy as np
from starlette.requests import Request

from tts_assets.layout import DataLayout
from tts_assets.serve.audio import join
from tts_assets.models.engines import ENGINE_NAMES, ENGINES, Engine, Served, Synthesizer, discover, voice_named
from tts_assets.serve.errors import ApiError
from tts_assets.serve.queue import DeviceQueue, JobRecord, QueueFullError
from tts_assets.settings import ServeSettings

log = logging.getLogger(__name__)


class SpeechService:
    """Voices of the data root, the loaded checkpoints (LRU) and the device's queue."""

    def __init__(self, layout: DataLayout, settings: ServeSettings, engines: dict[str, Engine] | None = None):
        self.layout = layout
        self.settings = settings
        self.engines = ENGINES if engines is None else engines
        self.queue = DeviceQueue(settings.device, settings.max_queue)
        self._loaded: OrderedDict[tuple[str, str], Synthesizer] = OrderedDict()

    def voices(self, problems: dict[tuple[str, str | None], str] | None = None) -> dict[str, dict[str, Served]]:
        return discover(self.layout, self.settings.require_promoted, self.engines, problems)

    def resolve(self, voice: str, model: str) -> Served:
        """Reads the data root: call it off the event loop."""
        problems: dict[tuple[str, str | None], str] = {}
        voices = self.voices(problems)
        voice = voice_named(voice, [*voices, *(name for name, _ in problems)])
        engines = voices.get(voice, {})
        named = model in self.engines or model in ENGINE_NAMES
        wanted = [model] if named else list(self.engines)
        if not any(engine in engines for engine in wanted):
            # Its files are there but unreadable: say so rather than "not found".
            causes = [cause for (name, engine), cause in problems.items()
                      if name == voice and (engine is None or engine in wanted)]  # None: the whole voice
            if causes:
                raise ApiError(503, "voice_unavailable", f"voice {voice!r} cannot be served: {causes[0]}", "voice")
        if not engines:
            known = ", ".join(sorted(voices)) or "none: train a voice first"
            raise ApiError(400, "unknown_voice", f"voice {voice!r} not found; voices: {known}", "voice")
        if named:
            if model not in engines:
                raise ApiError(400, "unknown_model", f"voice {voice!r} has no {model} checkpoint; it has: "
                                                     f"{', '.join(engines)}", "model")
            return engines[model]
        return next(engines[name] for name in self.engines if name in engines)

    def loaded(self) -> list[str]:
        # Relative to the data root: /health is open to anyone, the server's paths are not.
        return [f"{engine}:{os.path.relpath(path, self.layout.root)}" for engine, path in self._loaded]

    def _synthesizer(self, served: Served) -> Synthesizer:
        """Runs in the device worker only, so loading never overlaps a synthesis."""
        key = (served.engine, str(served.checkpoint))
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        while len(self._loaded) >= self.settings.max_loaded_voices:
            _, old = self._loaded.popitem(last=False)
            old.close()
        log.info("loading %s checkpoint %s on %s", served.engine, served.checkpoint, self.settings.device)
        synthesizer = self.engines[served.engine].load(self.layout, served.voice, served.checkpoint,
                                                       self.settings.device)
        self._loaded[key] = synthesizer
        return synthesizer

    def speak_pieces(self, served: Served, pieces: list[str],
                     stop: threading.Event | None = None) -> Iterator[tuple[np.ndarray, int]]:
        """Each piece's audio as it is spoken; stops before the next piece once `stop` is set."""
        synthesizer = self._synthesizer(served)
        for index, piece in enumerate(pieces):
            if stop is not None and stop.is_set():
                log.info("%s: stopped after %d of %d pieces: the client went away", served.voice, index,
                         len(pieces))
                return
            seed = None if self.settings.seed is None else self.settings.seed + index
            wave, rate = synthesizer.speak(piece, max_seconds=self.settings.piece_seconds(piece), seed=seed)
            yield np.nan_to_num(np.asarray(wave, dtype=np.float32).reshape(-1)), rate

    def synthesize(self, served: Served, pieces: list[str],
                   stop: threading.Event | None = None) -> tuple[np.ndarray, int] | None:
        """The pieces spoken and joined; None when `stop` came before the first piece."""
        spoken = list(self.speak_pieces(served, pieces, stop))
        if not spoken:
            return None
        rate = spoken[0][1]
        return join([wave for wave, _ in spoken], rate, self.settings.sentence_pause_s), rate

    def submit(self, job: Callable[[], object], label: str) -> tuple[Future, JobRecord]:
        try:
            return self.queue.submit(job, label=label)
        except QueueFullError as exc:
            raise ApiError(503, "queue_full", f"server busy: {exc}; retry later",
                           headers={"Retry-After": "5"}) from None

    def failure(self, exc: Exception, served: Served, mid_stream: bool = False) -> ApiError:
        """A model failure, logged with its traceback (call it where it is caught), as the request's
        answer with its cause."""
        log.exception("synthesis failed%s for %s with %s", " mid-stream" if mid_stream else "", served.voice,
                      served.checkpoint)
        if type(exc).__name__ == "OutOfMemoryError":
            return ApiError(503, "out_of_memory", f"{self.settings.device} ran out of memory; retry with a shorter "
                                                  "input or fewer loaded voices", headers={"Retry-After": "5"})
        return ApiError(500, "synthesis_failed", f"{served.checkpoint}: synthesis failed ({type(exc).__name__}: "
                                                 f"{exc})")

    def close(self) -> None:
        self.queue.shutdown()
        while self._loaded:
            self._loaded.popitem()[1].close()


class ClientGone(ApiError):
    """The client disconnected before its answer was ready (nginx's 499; nobody receives it)."""

    def __init__(self):
        super().__init__(499, "client_closed_request", "the client disconnected before its speech was ready")


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def while_connected(request: Request, waited: Awaitable, job: Future, record: JobRecord,
                          stop: threading.Event):
    """`waited`'s result, unless the client disconnects first: then `job` is dropped from the queue
    (or stopped after its current piece) and ClientGone raised. uvicorn does not cancel the handler
    of a client that left, so the handler watches for the disconnect while it waits."""
    waiting = asyncio.ensure_future(waited)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({waiting, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        waiting.cancel()  # no-op once done
    if waiting in done:
        return waiting.result()
    stop.set()
    if job.cancel():
        log.info("job %d (%s) dropped: its client left while it waited", record.id, record.label)
    raise ClientGone()

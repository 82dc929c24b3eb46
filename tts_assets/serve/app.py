"""The FastAPI application: OpenAI-style speech, the voices of the data root, health.

`POST /v1/audio/speech` takes `{"model", "input", "voice", "response_format", "speed"}`:
- `voice`: a voice of the data root (`GET /v1/voices`), as a string or `{"id": ...}`;
- `model`: an engine (`qwen3`, `xtts`) picks the voice's checkpoint of that engine; anything else
  (`tts-1`, `tts-1-hd`, ...) means the voice's default engine (qwen3 first), so OpenAI clients
  work unchanged;
- `response_format`: wav | flac | mp3 | pcm (default mp3, as OpenAI); the sample rate is the
  model's (24 kHz), also in the `X-Sample-Rate` header (pcm has no header of its own);
- `speed`: 0.25-4.0, a pitch-preserving time stretch after synthesis (see audio.py);
- `stream_format`: absent, the whole file once spoken (with its timings in headers); `audio`, the
  audio sent piece by piece (sentence by sentence) as it is spoken, in wav, pcm or mp3; `sse`, the
  same chunks base64-encoded in OpenAI's server-sent events (`speech.audio.delta`, then
  `speech.audio.done`, or `error`). A client that goes away stops the synthesis after its piece.
Other fields (`instructions`, ...) are ignored. Errors are 4xx/5xx with OpenAI's JSON error body.
The `X-Voice` response header is the voice id percent-encoded as UTF-8 (RFC 3986; headers are
Latin-1), so an ASCII id like `reader` is sent unchanged. A `voice` matches its folder's name also
when one of them is decomposed Unicode (NFD, as macOS writes names) and the other composed (NFC).

`GET /v1/voices` lists the voices that can be spoken (`data`) and, under `unavailable`, those that
cannot (`{"id", "engine", "reason"}`, engine null for the whole voice: an unreadable folder, a
folder name that is not UTF-8), so one broken voice never hides the others.

With an API key, every path but `/health` (the docs and `/openapi.json` too) requires
`Authorization: Bearer <key>`; `/health` names no absolute path.

`input` is limited to `max_input_chars` as sent and once spelled out (numbers expand: one request
must not hold the device for long). A client that disconnects while its request waits for the
device has its job dropped from the queue (or stopped after the piece being spoken).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from tts_assets.layout import DataLayout
from tts_assets.serve.audio import (MAX_SPEED, MEDIA_TYPES, MIN_SPEED, STREAMED_FORMATS, StreamEncoder,
                                    change_speed, encode, join, silence)
from tts_assets.serve.engines import ENGINE_NAMES, ENGINES, Engine, Served, Synthesizer, discover, voice_named
from tts_assets.serve.errors import ApiError, ServeError, error_body
from tts_assets.serve.queue import DeviceQueue, JobRecord, QueueFullError
from tts_assets.serve.server import API_KEY_ENV
from tts_assets.settings import ServeSettings
from tts_assets.serve.text import speakable, text_pieces

log = logging.getLogger(__name__)


class VoiceRef(BaseModel):
    id: str


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = "tts-1"
    input: str
    voice: str | VoiceRef
    response_format: str | None = None
    speed: float = 1.0
    stream_format: str | None = None


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

    def close(self) -> None:
        self.queue.shutdown()
        while self._loaded:
            self._loaded.popitem()[1].close()


class BodyLimitMiddleware:
    """413 for bodies over the limit: at once from Content-Length, else while the body streams in."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        message = f"request body over the limit of {self.max_bytes} bytes"
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            response = JSONResponse(error_body(413, message, "body_too_large"), status_code=413,
                                    headers={"Connection": "close"})
            return await response(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, message)
            return event

        return await self.app(scope, limited, send)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    parts, param = [], None
    for error in exc.errors():
        location = [str(x) for x in error.get("loc", ()) if x != "body"]
        if error.get("type") == "json_invalid":
            return f"request body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})", None
        param = param or (location[0] if location else None)
        parts.append(f"{'.'.join(location) or 'body'}: {error.get('msg')}")
    return "; ".join(parts) or "invalid request", param


def synthesis_error(exc: Exception, device: str, checkpoint) -> ApiError:
    """A model failure as the request's answer, with its cause."""
    if type(exc).__name__ == "OutOfMemoryError":
        return ApiError(503, "out_of_memory", f"{device} ran out of memory; retry with a shorter input or fewer "
                                              "loaded voices", headers={"Retry-After": "5"})
    return ApiError(500, "synthesis_failed", f"{checkpoint}: synthesis failed ({type(exc).__name__}: {exc})")


def sse_event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


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


def create_app(layout: DataLayout, settings: ServeSettings | None = None, *, api_key: str | None = None,
               engines: dict[str, Engine] | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    service = SpeechService(layout, settings, engines)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        service.close()

    app = FastAPI(title="tts_assets TTS server", lifespan=lifespan)
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return JSONResponse(error_body(exc.status, exc.message, exc.code, exc.param), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return JSONResponse(error_body(exc.status_code, str(exc.detail), codes.get(exc.status_code, "http_error")),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        message, param = _validation_message(exc)
        return JSONResponse(error_body(400, message, "invalid_request", param), status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception):
        # Starlette raises it again after this answer, so uvicorn logs the traceback, and closes the
        # connection: say so, or a client reusing it gets a reset.
        message = " ".join(f"internal server error ({type(exc).__name__}: {exc})".split())
        return JSONResponse(error_body(500, message, "internal_error"), status_code=500,
                            headers={"Connection": "close"})

    if api_key is not None:
        if not api_key.strip():  # not taken for "no key": that would serve everyone, silently
            raise ServeError("API key", f"empty (--api-key or ${API_KEY_ENV}); give a key, or unset both to "
                                        "serve without one")
        expected = api_key.encode()

        @app.middleware("http")
        async def authenticate(request: Request, call_next):
            if request.url.path != "/health":  # the docs and the schema too: they list the API
                scheme, _, token = request.headers.get("authorization", "").partition(" ")
                # The scheme is case-insensitive (RFC 9110); Starlette decodes header values as
                # Latin-1, so encoding back gives the bytes sent (a UTF-8 key matches).
                if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode("latin-1"),
                                                                            expected):
                    return JSONResponse(error_body(401, "missing or wrong API key (Authorization: Bearer ...)",
                                                   "invalid_api_key"), status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
            return await call_next(request)

    @app.get("/health")
    def health():
        try:
            voices = len(service.voices())
        except Exception as exc:  # noqa: BLE001 - health reports, never fails on a bad data root
            # The cause without its path: /health is open to anyone.
            voices = f"unreadable: {getattr(exc, 'strerror', None) or type(exc).__name__}"
        return {"status": "ok", "device": settings.device, "voices": voices, "loaded": service.loaded(),
                "queue": {"busy": service.queue.busy, "waiting": service.queue.waiting,
                          "max_waiting": settings.max_queue}}

    @app.get("/v1/voices")
    def voices():
        data = []
        problems: dict[tuple[str, str | None], str] = {}
        for name, engines in service.voices(problems).items():
            data.append({"id": name, "object": "voice", "name": name, "default_engine": next(iter(engines)),
                         "engines": {engine: served.describe() for engine, served in engines.items()}})
        # Beside `data`, whose entries all can be spoken: what cannot, and why.
        unavailable = [{"id": name, "engine": engine, "reason": cause} for (name, engine), cause in problems.items()]
        return {"object": "list", "data": data, "unavailable": unavailable}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "tts_assets"}
                                           for name in service.engines]}

    def submit(job, label: str) -> tuple[Future, JobRecord]:
        try:
            return service.queue.submit(job, label=label)
        except QueueFullError as exc:
            raise ApiError(503, "queue_full", f"server busy: {exc}; retry later",
                           headers={"Retry-After": "5"}) from None

    def failed(exc: Exception, voice: str, served: Served) -> ApiError:
        log.exception("synthesis failed for %s with %s", voice, served.checkpoint)
        return synthesis_error(exc, settings.device, served.checkpoint)

    @app.post("/v1/audio/speech")
    async def speech(body: SpeechRequest, request: Request):
        voice = body.voice.id if isinstance(body.voice, VoiceRef) else body.voice
        if not body.input.strip():
            raise ApiError(400, "empty_input", "input is empty", "input")
        try:
            body.input.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate: valid JSON, yet no text a tokenizer takes
            raise ApiError(400, "invalid_input", f"input is not valid Unicode ({exc.reason} at character "
                                                 f"{exc.start})", "input") from None
        if len(body.input) > settings.max_input_chars:
            raise ApiError(400, "input_too_long", f"input is {len(body.input)} characters; the limit is "
                                                  f"{settings.max_input_chars}", "input")
        response_format = (body.response_format or settings.default_format).lower()
        if response_format not in MEDIA_TYPES:
            raise ApiError(400, "unsupported_response_format", f"response_format {body.response_format!r} is not "
                                                               f"supported; use one of {', '.join(MEDIA_TYPES)}",
                           "response_format")
        if not math.isfinite(body.speed) or not MIN_SPEED <= body.speed <= MAX_SPEED:
            raise ApiError(400, "invalid_speed", f"speed {body.speed} is outside {MIN_SPEED}-{MAX_SPEED}", "speed")
        served = await run_in_threadpool(service.resolve, voice, body.model)
        spoken = speakable(body.input, settings.language, settings.normalize_text)
        if len(spoken) > settings.max_input_chars:
            raise ApiError(400, "input_too_long", f"input is {len(spoken)} characters once numbers and "
                                                  f"abbreviations are spelled out; the limit is "
                                                  f"{settings.max_input_chars}", "input")
        pieces = text_pieces(spoken, settings.max_piece_chars)
        if not pieces:
            raise ApiError(400, "empty_input", "input has nothing to speak", "input")
        if body.stream_format is not None:
            return await stream_speech(request, voice, served, pieces, body, response_format)
        stop = threading.Event()
        future, record = submit(partial(service.synthesize, served, pieces, stop), f"{voice}/{served.engine}")
        try:
            audio, rate = await while_connected(request, asyncio.wrap_future(future), future, record, stop)
        except ClientGone:
            raise
        except Exception as exc:  # noqa: BLE001 - any model failure is answered, with its cause
            raise failed(exc, voice, served) from None
        audio = await run_in_threadpool(change_speed, audio, body.speed)
        data = await run_in_threadpool(encode, audio, rate, response_format)
        headers = {
            # Header values are Latin-1: the id percent-encoded as UTF-8 (an ASCII id is unchanged).
            "X-Voice": quote(voice, safe=""), "X-Engine": served.engine, "X-Checkpoint": served.checkpoint.name,
            "X-Sample-Rate": str(rate), "X-Text-Pieces": str(len(pieces)), "X-Job-Id": str(record.id),
            "X-Queue-Wait-Ms": f"{(record.started - record.queued) * 1000:.1f}",
            "X-Synthesis-Ms": f"{(record.finished - record.started) * 1000:.1f}",
            "X-Audio-Seconds": f"{len(audio) / rate:.3f}",
        }
        return Response(data, media_type=MEDIA_TYPES[response_format], headers=headers)

    async def stream_speech(request: Request, voice: str, served: Served, pieces: list[str], body: SpeechRequest,
                            response_format: str) -> StreamingResponse:
        """Pieces travel from the device worker to the response as they are spoken. The first piece
        is awaited before answering, so a request that fails at once still gets a JSON error."""
        if body.stream_format not in ("audio", "sse"):
            raise ApiError(400, "unsupported_stream_format", f"stream_format {body.stream_format!r} is not "
                                                             "supported; use audio or sse", "stream_format")
        if response_format not in STREAMED_FORMATS:
            raise ApiError(400, "unsupported_response_format", f"response_format {response_format!r} cannot be "
                                                               f"streamed; use one of {', '.join(STREAMED_FORMATS)}",
                           "response_format")
        loop = asyncio.get_running_loop()
        spoken: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def job() -> None:
            try:
                for item in service.speak_pieces(served, pieces, stop):
                    loop.call_soon_threadsafe(spoken.put_nowait, item)
            finally:
                loop.call_soon_threadsafe(spoken.put_nowait, None)

        future, record = submit(job, f"{voice}/{served.engine}/stream")
        first = await while_connected(request, spoken.get(), future, record, stop)
        if first is None:
            try:
                await asyncio.wrap_future(future)
            except Exception as exc:  # noqa: BLE001
                raise failed(exc, voice, served) from None
            raise ApiError(500, "synthesis_failed", f"{served.checkpoint}: no audio was spoken")
        rate = first[1]
        sse = body.stream_format == "sse"
        gap = silence(settings.sentence_pause_s / body.speed, rate)

        def delta(data: bytes) -> bytes:
            return sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}) if sse else data

        async def chunks() -> AsyncIterator[bytes]:
            item, index, seconds = first, 0, 0.0
            encoder = StreamEncoder(response_format, rate)
            try:
                while item is not None:
                    audio = await run_in_threadpool(change_speed, item[0], body.speed)
                    if index:
                        audio = np.concatenate([gap, audio])
                    seconds += len(audio) / rate
                    data = encoder.encode(audio)
                    if data:  # an mp3 encoder may hold a short piece until the next
                        yield delta(data)
                    index += 1
                    item = await spoken.get()
                try:
                    await asyncio.wrap_future(future)
                except Exception as exc:  # noqa: BLE001 - the status is sent: report in-band, if at all
                    log.exception("synthesis failed mid-stream for %s with %s", voice, served.checkpoint)
                    error = synthesis_error(exc, settings.device, served.checkpoint)
                    if sse:
                        yield sse_event({"type": "error", **error_body(error.status, error.message, error.code)})
                    return
                tail = encoder.finish()
                if tail:
                    yield delta(tail)
                if sse:
                    yield sse_event({"type": "speech.audio.done",
                                     "usage": {"text_pieces": index, "audio_seconds": round(seconds, 3)}})
            finally:
                stop.set()  # a client gone mid-stream: no more pieces are spoken for it
                encoder.close()

        headers = {
            "X-Voice": quote(voice, safe=""), "X-Engine": served.engine, "X-Checkpoint": served.checkpoint.name,
            "X-Sample-Rate": str(rate), "X-Text-Pieces": str(len(pieces)), "X-Job-Id": str(record.id),
            "X-Queue-Wait-Ms": f"{(record.started - record.queued) * 1000:.1f}", "Cache-Control": "no-store",
        }
        media_type = "text/event-stream" if sse else MEDIA_TYPES[response_format]
        return StreamingResponse(chunks(), media_type=media_type, headers=headers)

    return app

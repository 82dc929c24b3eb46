"""The HTTP side of the server (the API is described in app.py): the routes, the API key, the body
limit, and every error answered as OpenAI's JSON error body. Handlers find the speech service on
`request.app.state.service`."""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
from functools import partial
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from tts_assets.serve.audio import MAX_SPEED, MEDIA_TYPES, MIN_SPEED, STREAMED_FORMATS, change_speed, encode
from tts_assets.models.engines import Served
from tts_assets.serve.errors import ApiError, ServeError, error_body
from tts_assets.serve.queue import JobRecord
from tts_assets.serve.server import API_KEY_ENV
from tts_assets.serve.service import ClientGone, SpeechService, while_connected
from tts_assets.serve.streaming import SpeechStream
from tts_assets.text.sentences import speakable
from tts_assets.text.sentences import text_pieces

router = APIRouter()


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


@router.get("/health")
def health(request: Request):
    service: SpeechService = request.app.state.service
    try:
        voices = len(service.voices())
    except Exception as exc:  # noqa: BLE001 - health reports, never fails on a bad data root
        # The cause without its path: /health is open to anyone.
        voices = f"unreadable: {getattr(exc, 'strerror', None) or type(exc).__name__}"
    return {"status": "ok", "device": service.settings.device, "voices": voices, "loaded": service.loaded(),
            "queue": {"busy": service.queue.busy, "waiting": service.queue.waiting,
                      "max_waiting": service.settings.max_queue}}


@router.get("/v1/voices")
def voices(request: Request):
    data = []
    problems: dict[tuple[str, str | None], str] = {}
    for name, engines in request.app.state.service.voices(problems).items():
        data.append({"id": name, "object": "voice", "name": name, "default_engine": next(iter(engines)),
                     "engines": {engine: served.describe() for engine, served in engines.items()}})
    # Beside `data`, whose entries all can be spoken: what cannot, and why.
    unavailable = [{"id": name, "engine": engine, "reason": cause} for (name, engine), cause in problems.items()]
    return {"object": "list", "data": data, "unavailable": unavailable}


@router.get("/v1/models")
def models(request: Request):
    return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "tts_assets"}
                                       for name in request.app.state.service.engines]}


@router.post("/v1/audio/speech")
async def speech(body: SpeechRequest, request: Request):
    service: SpeechService = request.app.state.service
    settings = service.settings
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
        return await _stream(request, service, voice, served, pieces, body, response_format)
    stop = threading.Event()
    future, record = service.submit(partial(service.synthesize, served, pieces, stop), f"{voice}/{served.engine}")
    try:
        audio, rate = await while_connected(request, asyncio.wrap_future(future), future, record, stop)
    except ClientGone:
        raise
    except Exception as exc:  # noqa: BLE001 - any model failure is answered, with its cause
        raise service.failure(exc, served) from None
    audio = await run_in_threadpool(change_speed, audio, body.speed)
    data = await run_in_threadpool(encode, audio, rate, response_format)
    headers = {**_speech_headers(voice, served, rate, pieces, record),
               "X-Synthesis-Ms": f"{(record.finished - record.started) * 1000:.1f}",
               "X-Audio-Seconds": f"{len(audio) / rate:.3f}"}
    return Response(data, media_type=MEDIA_TYPES[response_format], headers=headers)


async def _stream(request: Request, service: SpeechService, voice: str, served: Served, pieces: list[str],
                  body: SpeechRequest, response_format: str) -> StreamingResponse:
    if body.stream_format not in ("audio", "sse"):
        raise ApiError(400, "unsupported_stream_format", f"stream_format {body.stream_format!r} is not "
                                                         "supported; use audio or sse", "stream_format")
    if response_format not in STREAMED_FORMATS:
        raise ApiError(400, "unsupported_response_format", f"response_format {response_format!r} cannot be "
                                                           f"streamed; use one of {', '.join(STREAMED_FORMATS)}",
                       "response_format")
    stream = SpeechStream(service, served, pieces)
    rate, record = await stream.start(request, f"{voice}/{served.engine}/stream")
    sse = body.stream_format == "sse"
    headers = {**_speech_headers(voice, served, rate, pieces, record), "Cache-Control": "no-store"}
    return StreamingResponse(stream.chunks(response_format, body.speed, sse),
                             media_type="text/event-stream" if sse else MEDIA_TYPES[response_format], headers=headers)


def _speech_headers(voice: str, served: Served, rate: int, pieces: list[str], record: JobRecord) -> dict[str, str]:
    return {
        # Header values are Latin-1: the id percent-encoded as UTF-8 (an ASCII id is unchanged).
        "X-Voice": quote(voice, safe=""), "X-Engine": served.engine, "X-Checkpoint": served.checkpoint.name,
        "X-Sample-Rate": str(rate), "X-Text-Pieces": str(len(pieces)), "X-Job-Id": str(record.id),
        "X-Queue-Wait-Ms": f"{(record.started - record.queued) * 1000:.1f}",
    }


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


def api_key_checker(api_key: str):
    """The `http` middleware that answers 401 on every path but /health without `Bearer <api_key>`."""
    if not api_key.strip():  # not taken for "no key": that would serve everyone, silently
        raise ServeError("API key", f"empty (--api-key or ${API_KEY_ENV}); give a key, or unset both to "
                                    "serve without one")
    expected = api_key.encode()

    async def authenticate(request: Request, call_next):
        if request.url.path != "/health":  # the docs and the schema too: they list the API
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            # The scheme is case-insensitive (RFC 9110); Starlette decodes header values as
            # Latin-1, so encoding back gives the bytes sent (a UTF-8 key matches).
            if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode("latin-1"), expected):
                return JSONResponse(error_body(401, "missing or wrong API key (Authorization: Bearer ...)",
                                               "invalid_api_key"), status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    return authenticate


async def _api_error(_request: Request, exc: ApiError):
    return JSONResponse(error_body(exc.status, exc.message, exc.code, exc.param), status_code=exc.status,
                        headers=exc.headers)


async def _http_error(_request: Request, exc: StarletteHTTPException):
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    return JSONResponse(error_body(exc.status_code, str(exc.detail), codes.get(exc.status_code, "http_error")),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _invalid(_request: Request, exc: RequestValidationError):
    parts, param = [], None
    for error in exc.errors():
        location = [str(x) for x in error.get("loc", ()) if x != "body"]
        if error.get("type") == "json_invalid":
            message = f"request body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
            return JSONResponse(error_body(400, message, "invalid_request"), status_code=400)
        param = param or (location[0] if location else None)
        parts.append(f"{'.'.join(location) or 'body'}: {error.get('msg')}")
    return JSONResponse(error_body(400, "; ".join(parts) or "invalid request", "invalid_request", param),
                        status_code=400)


async def _unexpected(_request: Request, exc: Exception):
    # Starlette raises it again after this answer, so uvicorn logs the traceback, and closes the
    # connection: say so, or a client reusing it gets a reset.
    message = " ".join(f"internal server error ({type(exc).__name__}: {exc})".split())
    return JSONResponse(error_body(500, message, "internal_error"), status_code=500, headers={"Connection": "close"})


# OpenAI's JSON error body for every error, ours and the framework's.
EXCEPTION_HANDLERS = {ApiError: _api_error, StarletteHTTPException: _http_error, RequestValidationError: _invalid,
                      Exception: _unexpected}

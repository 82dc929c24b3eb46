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

from contextlib import asynccontextmanager

from fastapi import FastAPI

from tts_assets.layout import DataLayout
from tts_assets.serve.api import EXCEPTION_HANDLERS, BodyLimitMiddleware, api_key_checker, router
from tts_assets.models.engines import Engine
from tts_assets.serve.service import SpeechService
from tts_assets.settings import ServeSettings


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    app.state.service.close()


def create_app(layout: DataLayout, settings: ServeSettings | None = None, *, api_key: str | None = None,
               engines: dict[str, Engine] | None = None) -> FastAPI:
    """The application serving the voices of `layout`: the HTTP side in api.py, the streamed
    answers in streaming.py, the voices and the device's queue in service.py."""
    authenticate = None if api_key is None else api_key_checker(api_key)  # an empty key fails before any work
    settings = settings or ServeSettings()
    app = FastAPI(title="tts_assets TTS server", lifespan=_lifespan, exception_handlers=EXCEPTION_HANDLERS)
    app.state.service = SpeechService(layout, settings, engines)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if authenticate is not None:
        app.middleware("http")(authenticate)  # added last, so it runs first: a bad key is refused unread
    app.include_router(router)
    return app

"""The review page (`tts-assets review`): listen to a voice's clips and rejections before training,
and decide (reject, restore, correct the text); decisions go to the voice's review_decisions.jsonl
and the aligned dataset applies them when the page's refresh (a Dagster run) rebuilds it.

Pages: `/` (the voices), `/voices/<voice>` (its clips, filtered, sorted and paged by the query:
status, book, split, reason, q, sort, order, range, min, max, page). JSON: `GET /api/voices/<voice>/clips`
(the same query), `POST /api/voices/<voice>/decisions` `{"clip", "action", "text", "who"}`,
`POST|GET /api/voices/<voice>/refresh`. Audio: `/voices/<voice>/audio?clip=<id>`,
`/voices/<voice>/peaks?clip=<id>`, `/voices/<voice>/sample?path=<id>`: ids the server lists, mapped
to files here, so no path in a request reaches the filesystem.

With an API key every path needs it (the TTS server's check): `Authorization: Bearer <key>`, or once
`?token=<key>` in the browser, which then keeps it in an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Query as QueryParam, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware
from pydantic import BaseModel, ConfigDict, Field

from tts_assets.dataset.decisions import RESTORABLE, Action, append_decision, latest_by_clip, read_decisions
from tts_assets.layout import DataLayout
from tts_assets.manifest.schema import Reason
from tts_assets.review.catalog import Catalogs, Query, VoiceCatalog, peaks
from tts_assets.serve.api import EXCEPTION_HANDLERS, BodyLimitMiddleware, api_key_checker
from tts_assets.serve.errors import ApiError
from tts_assets.settings import ReviewSettings

TOKEN_COOKIE = "tts_assets_review_token"
MAX_WHO_CHARS = 80
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clip: str = Field(max_length=2000)
    action: Action
    text: str | None = None
    who: str | None = Field(None, max_length=MAX_WHO_CHARS)


def _browser_token(authenticate):
    """Wraps the API key check: a `?token=` or the cookie it set stands for the Bearer header."""

    async def middleware(request: Request, call_next):
        given = request.query_params.get("token")
        token = given or request.cookies.get(TOKEN_COOKIE)
        if token and "authorization" not in request.headers:
            # UTF-8, as a client sends a non-ASCII key: the check encodes the header back to these bytes.
            request.scope["headers"] = [*request.scope["headers"], (b"authorization", f"Bearer {token}".encode())]
            request = Request(request.scope, request.receive)  # the old one has its headers read already
        response = await authenticate(request, call_next)
        if given and response.status_code != 401:
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
        return response

    return middleware


def create_app(layout: DataLayout, settings: ReviewSettings | None = None, *, api_key: str | None = None,
               refresh=None, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The review application over `layout`; `refresh` (an `AlignRefresh`) rebuilds a voice's
    aligned dataset through Dagster (None: the page cannot refresh); `allowed_hosts`, the Host
    headers answered (None: any)."""
    settings = settings or ReviewSettings()
    catalogs = Catalogs(layout)
    app = FastAPI(title="tts_assets review", exception_handlers=EXCEPTION_HANDLERS)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    if api_key is not None:
        app.middleware("http")(_browser_token(api_key_checker(api_key)))  # an empty key fails here

    def catalog_of(voice: str) -> VoiceCatalog:
        if voice not in catalogs.voices():  # a name from the request is only ever compared
            raise ApiError(404, "unknown_voice", f"no aligned dataset for voice {voice!r}", "voice")
        return catalogs.get(voice)

    def query_of(request: Request, catalog: VoiceCatalog) -> Query:
        params = request.query_params

        def number(name):
            value = params.get(name, "").strip()
            try:
                return float(value) if value else None
            except ValueError:
                raise ApiError(400, "invalid_number", f"{name} {value!r} is not a number", name) from None

        sort = params.get("sort") or "align_score"
        if sort not in catalog.numeric_columns and catalog.numeric_columns:
            raise ApiError(400, "invalid_sort", f"sort {sort!r}: one of {', '.join(catalog.numeric_columns)}", "sort")
        range_column = params.get("range") or ""
        if range_column and range_column not in catalog.numeric_columns:
            raise ApiError(400, "invalid_range", f"range {range_column!r}: one of "
                                                 f"{', '.join(catalog.numeric_columns)}", "range")
        page, page_size = (_positive(params, "page", 1), _positive(params, "page_size", settings.page_size))
        return Query(status=params.get("status", ""), book=params.get("book", ""), split=params.get("split", ""),
                     reason=params.get("reason", ""), text=params.get("q", "")[:200], sort=sort,
                     descending=params.get("order") == "desc", range_column=range_column,
                     low=number("min"), high=number("max"), page=page, page_size=min(page_size, 500))

    def page_of(voice: str, request: Request) -> dict:
        catalog = catalog_of(voice)
        query = query_of(request, catalog)
        total, rows = catalog.select(query)
        pending = catalogs.pending(voice)
        clips = [{**{k: v for k, v in row.items() if not k.startswith("_")}, "pending": pending.get(row["id"])}
                 for row in rows]
        return {"voice": voice, "total": total, "page": query.page, "page_size": query.page_size,
                "pages": max(1, -(-total // query.page_size)), "clips": clips, "sorts": catalog.numeric_columns,
                "books": catalog.books, "reasons": catalog.reasons, "pending": len(pending),
                "refresh": refresh.state(voice) if refresh else None, "query": query}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        voices = [(voice, len(catalogs.get(voice).entries)) for voice in catalogs.voices()]
        return TEMPLATES.TemplateResponse(request, "index.html", {"voices": voices})

    @app.get("/voices/{voice}", response_class=HTMLResponse)
    def voice_page(voice: str, request: Request):
        page = page_of(voice, request)
        samples = sorted(catalogs.samples(voice))
        params = {k: v for k, v in request.query_params.items() if k not in ("page", "token")}
        return TEMPLATES.TemplateResponse(request, "voice.html", {
            **page, "samples": samples, "params": params, "can_refresh": refresh is not None,
            "who": getpass.getuser(), "max_text_chars": settings.max_text_chars})

    @app.get("/api/voices/{voice}/clips")
    def clips(voice: str, request: Request):
        page = page_of(voice, request)
        page["query"] = asdict(page["query"])
        return page

    def clip_file(catalog: VoiceCatalog, clip: str) -> Path:
        path = catalog.audio_path(clip)
        if path is None:
            raise ApiError(404, "unknown_clip", f"no playable clip {clip!r}", "clip")
        return path

    @app.get("/voices/{voice}/audio")
    def audio(voice: str, clip: str = QueryParam(max_length=2000)):
        return FileResponse(clip_file(catalog_of(voice), clip), media_type="audio/wav")

    @app.get("/voices/{voice}/peaks")
    def waveform(voice: str, clip: str = QueryParam(max_length=2000)):
        return {"clip": clip, "peaks": peaks(clip_file(catalog_of(voice), clip))}

    @app.get("/voices/{voice}/sample")
    def sample(voice: str, path: str = QueryParam(max_length=1000)):
        catalog_of(voice)
        found = catalogs.samples(voice).get(path)
        if found is None:
            raise ApiError(404, "unknown_sample", f"no checkpoint sample {path!r}", "path")
        return FileResponse(found, media_type="audio/wav")

    @app.post("/api/voices/{voice}/decisions")
    def decide(voice: str, body: DecisionRequest):
        catalog = catalog_of(voice)
        row = catalog.decidable.get(body.clip)
        if row is None:
            raise ApiError(404, "unknown_clip", f"{body.clip!r} is no clip of the aligned dataset of {voice!r}", "clip")
        text = None
        if body.action is Action.CORRECT:
            text = " ".join((body.text or "").split())
            if not text:
                raise ApiError(400, "empty_text", "a correction needs the clip's text", "text")
            if len(text) > settings.max_text_chars:
                raise ApiError(400, "text_too_long", f"text is {len(text)} characters; the limit is "
                                                     f"{settings.max_text_chars}", "text")
        elif body.text is not None:
            raise ApiError(400, "unexpected_text", f"only a correction carries a text, not {body.action.value}", "text")
        reason = row.get("reason")
        if body.action is Action.RESTORE:
            latest = latest_by_clip(read_decisions(layout.review_decisions(voice))).get(body.clip)
            if latest and latest["action"] == Action.REJECT.value:
                reason = Reason.REVIEW_REJECTED.value  # undoing a rejection not yet applied
            elif reason is None:
                raise ApiError(409, "not_rejected", f"{body.clip!r} is kept; only a rejected clip is restored", "clip")
            elif Reason(reason) not in RESTORABLE or catalog.audio_path(body.clip) is None:
                raise ApiError(409, "not_restorable", f"{body.clip!r} was rejected {reason}, which a listener "
                                                      f"cannot overrule", "clip")
        who = " ".join((body.who or getpass.getuser()).split())[:MAX_WHO_CHARS] or "unknown"
        decision = append_decision(layout.review_decisions(voice), row, body.action, who, text,
                                   reason if body.action is Action.RESTORE else None)
        return JSONResponse(decision, status_code=201)

    @app.post("/api/voices/{voice}/refresh")
    def start_refresh(voice: str):
        catalog_of(voice)
        if refresh is None:
            raise ApiError(503, "no_refresh", "this server cannot start Dagster runs")
        return JSONResponse(refresh.start(voice), status_code=202)

    @app.get("/api/voices/{voice}/refresh")
    def refresh_state(voice: str):
        catalog_of(voice)
        return {"state": refresh.state(voice) if refresh else None, "pending": len(catalogs.pending(voice))}

    return app


def _positive(params, name: str, default: int) -> int:
    value = params.get(name) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, "invalid_number", f"{name} {value!r} is not a positive whole number", name)
    return int(value)


def review(data_root=None, host: str | None = None, port: int | None = None, *, api_key: str | None = None,
           settings_file=None, log_level: str = "info") -> None:
    """Serve the review page of `data_root`'s voices until interrupted; the host and port default to
    the `review:` settings. Raises ServeError for a missing data root, an empty key or a busy port."""
    import os
    import sys

    import uvicorn

    from tts_assets.defs.align.refresh import AlignRefresh
    from tts_assets.serve.errors import ServeError
    from tts_assets.serve.server import API_KEY_ENV, bind, is_loopback
    from tts_assets.settings import SETTINGS_ENV

    layout = DataLayout.at(data_root)
    if not layout.root.is_dir():
        raise ServeError(layout.root, "no such data root")
    settings = ReviewSettings.load(settings_file or os.environ.get(SETTINGS_ENV))
    host, port = host or settings.host, settings.port if port is None else port
    api_key = os.environ.get(API_KEY_ENV) if api_key is None else api_key
    if not is_loopback(host) and not api_key:  # the page changes datasets: never open to a network
        raise ServeError(f"{host}:{port}", f"not a loopback address: give an API key (--api-key or ${API_KEY_ENV})")
    # Without a key only this machine's names are answered: a web page whose name an attacker
    # points at 127.0.0.1 (DNS rebinding) gets a 400, not the datasets.
    local = None if api_key else [host, "localhost", "127.0.0.1", "::1", "[::1]", urlsplit(settings.voice_url("")).hostname]
    app = create_app(layout, settings, api_key=api_key, refresh=AlignRefresh(layout), allowed_hosts=local)
    sock = bind(host, port)
    print(f"tts-assets review: http://{host}:{sock.getsockname()[1]}/ for the voices of {layout.root}",
          file=sys.stderr, flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level=log_level)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass

"""The TTS server: OpenAI-style `POST /v1/audio/speech`, `GET /v1/voices`, `GET /health`.

`serve(data_root, host, port, ...)` runs it; `create_app(...)` builds the FastAPI application.
"""

from __future__ import annotations


def __getattr__(name: str):  # lazy: a module of the package (serve.audio) must not load FastAPI
    if name == "serve":
        from tts_assets.serve.server import serve

        return serve
    if name == "create_app":
        from tts_assets.serve.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["serve", "create_app"]

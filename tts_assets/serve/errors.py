"""Server errors: `ServeError` for a server that cannot start (one line, naming the cause);
`ApiError` for a request the server refuses, answered as OpenAI-style JSON:
`{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations


from tts_assets.errors import PathError, encodable


class ServeError(PathError):
    """`<where>: <cause>`: the data root, the settings, the API key, the address."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers or {}


def error_body(status: int, message: str, code: str | None, param: str | None = None) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    # Always encodable: one that is not fails to render, and the client gets a plain-text 500 instead.
    return {"error": {"message": encodable(message), "type": kind, "param": param and encodable(param),
                      "code": code}}

"""Running the server: `serve()` for the command line, `start_in_thread()` for tests and embedding."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

from tts_assets.layout import DataLayout
from tts_assets.serve.errors import ServeError
from tts_assets.settings import ServeSettings
from tts_assets.settings import SETTINGS_ENV

API_KEY_ENV = "TTS_ASSETS_API_KEY"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is a one-line error (port 0: any free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(host, f"cannot resolve host ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"{host}:{port}", f"cannot listen ({exc.strerror})") from None
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class RunningServer:
    url: str
    server: object  # uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                    timeout: float = 30.0) -> RunningServer:
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="tts-server")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServeError(_url(host, sock), "server did not start")
        time.sleep(0.02)
    return RunningServer(_url(host, sock), server, thread)


def serve(
    data_root: str | os.PathLike | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    device: str | None = None,
    settings_file: str | os.PathLike | None = None,
    api_key: str | None = None,
    require_promoted: bool | None = None,
    log_level: str = "info",
) -> None:
    """Serve the voices of `data_root` until interrupted (Ctrl-C / SIGTERM end it cleanly).

    Settings come from the `serve:` section of `settings_file` (default $TTS_ASSETS_SETTINGS);
    `device` and `require_promoted` override them. `api_key` (default $TTS_ASSETS_API_KEY), when
    set, is required as `Authorization: Bearer <key>` on every path but /health. Raises ServeError
    when the data root is missing, the API key is empty or the address cannot be bound."""
    import uvicorn

    from tts_assets.serve.app import create_app
    from tts_assets.models.engines import discover

    layout = DataLayout.at(data_root)
    if not layout.root.is_dir():
        raise ServeError(layout.root, "no such data root")
    settings = ServeSettings.load(settings_file or os.environ.get(SETTINGS_ENV), device=device,
                                  require_promoted=require_promoted)
    api_key = os.environ.get(API_KEY_ENV) if api_key is None else api_key
    app = create_app(layout, settings, api_key=api_key)
    sock = bind(host, port)
    voices = discover(layout, settings.require_promoted)
    listing = ", ".join(f"{v} ({'/'.join(e)})" for v, e in voices.items()) or "none yet"
    print(f"tts-assets serve: {_url(host, sock)} on {settings.device}; voices from {layout.root}: {listing}",
          file=sys.stderr, flush=True)
    if not is_loopback(host) and not api_key:
        print(f"tts-assets serve: warning: listening on {host} without an API key; anyone who can reach it can "
              f"use it (set {API_KEY_ENV})", file=sys.stderr, flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on")).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught
        pass

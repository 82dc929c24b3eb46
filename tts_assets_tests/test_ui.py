"""End to end through the real Dagster UI: webserver and daemon started as a user would, a
materialization submitted over GraphQL, and the run and asset pages rendered in headless Chromium."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from tts_assets.layout import DataLayout
from tts_assets.dataset.sources import BookSource, register_book

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium (no network beyond localhost)."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    return result.stdout


def location_loaded(port: int) -> bool:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { __typename } } } } }"
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=5)
        entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
        return bool(entries) and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    except (httpx.TransportError, KeyError, TypeError, ValueError):
        return False


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGINT to each process group (what Ctrl-C sends), SIGKILL to any still there after 30 s."""
    for process in processes:
        os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def ui(tmp_path, librivox_book, monkeypatch):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TTS_ASSETS_DATA_ROOT": str(data), "HF_HUB_OFFLINE": "1"}
    segments = tmp_path / "segments.jsonl"
    librivox_book.write_segments(segments)
    register_book(DataLayout(data), "reader", BookSource("audiobook", str(librivox_book.audio), str(segments)), "book")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("voice", ["reader"])
        instance.add_dynamic_partitions("book", ["book"])
    port = free_port()
    # `dagster dev` ignores SIGTERM; the webserver and daemon run separately and stop on SIGINT.
    processes = [
        subprocess.Popen([BIN / "dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                         cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
        subprocess.Popen([BIN / "dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO, env=env,
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
    ]
    try:
        deadline = time.monotonic() + 180
        while not location_loaded(port):
            assert time.monotonic() < deadline, "the code location did not load"
            time.sleep(1)
        yield port, tmp_path
    finally:
        stop(processes)


def test_materialize_through_graphql_and_see_it_in_the_ui(ui):
    """Two runs of the same book submitted together: the run queue starts the second only after the
    first has finished (one run per partition: both write the same files)."""
    port, tmp_path = ui
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    tags = {"dagster/partition": "book|reader", "dagster/partition/book": "book", "dagster/partition/voice": "reader"}
    run_ids = [client.submit_job_execution("build_book", tags=tags) for _ in range(2)]
    deadline = time.monotonic() + 300
    for run_id in run_ids:
        status = client.get_run_status(run_id)
        while status not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
            assert time.monotonic() < deadline, f"run still {status}"
            time.sleep(1)
            status = client.get_run_status(run_id)
        assert status == dg.DagsterRunStatus.SUCCESS
    with dg.DagsterInstance.get() as instance:
        first, second = sorted((instance.get_run_record_by_id(r) for r in run_ids), key=lambda r: r.start_time)
    assert first.end_time <= second.start_time
    run_id = run_ids[0]

    run_page = render(f"http://127.0.0.1:{port}/runs/{run_id}", tmp_path / "chromium")
    assert "build_book" in run_page and "book_clips" in run_page and "Success" in run_page
    asset_page = render(f"http://127.0.0.1:{port}/assets/book_clips", tmp_path / "chromium")
    assert "book_clips" in asset_page and "book|reader" in asset_page

"""Drop a book, get a voice: with the webserver, the daemon and the TTS server running, books dropped
into the inbox are built, aligned, trained on (a tiny random-weight Qwen3-TTS), evaluated and
promoted, and the running server serves the voice, with no one starting anything. A second book
retrains the voice; the same book dropped again does not.

The schedule's cron comes from TTS_ASSETS_TRAINING_CRON (every minute here instead of 02:00), and
the sensors look every 5 s instead of 30 (TTS_ASSETS_SENSOR_INTERVAL_S)."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pytest
import soundfile as sf

from bench.tiny_models import build_tiny_qwen3
from tts_assets.models.promotion import read_promoted
from tts_assets.models.trained_on import trained_on
from tts_assets.layout import DataLayout
from tts_assets.qwen3.paths import run_dir

from .conftest import LIBRIVOX, LIBRIVOX_IDS
from .test_ui import BIN, REPO, free_port, location_loaded, stop
from .voice_fixtures import make_audible

VOICE_FOLDER, VOICE = "Jane Doe", "jane_doe"
STAGE_TIMEOUT_S = 600


def _book(path: Path, clip_ids: list[str]) -> Path:
    """LibriVox clips of one reader joined with 1 s pauses: a short real audiobook."""
    parts = []
    for clip_id in clip_ids:
        audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
        parts += [audio, np.zeros(rate, np.float32)]
    sf.write(path, np.concatenate(parts), rate)
    return path


def _wait(what: str, condition, timeout: float = STAGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(2)
    return value


@pytest.fixture
def running(tmp_path, whisper_tiny):
    base = build_tiny_qwen3(tmp_path / "tiny-base")
    make_audible(base)
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (data / "inbox").mkdir(parents=True)  # what a user makes first; the server refuses a missing root
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    settings = tmp_path / "settings.yaml"
    # Thresholds on sound only: the tiny random voice says no words, but it is a voice that speaks.
    settings.write_text(
        f"dataset:\n  asr:\n    model: {whisper_tiny}\n  quality:\n    val_fraction: 0.3\n"
        f"qwen3:\n  base_model: {base}\n  device: cpu\n  epochs: 1\n  batch_size: 2\n  grad_accum: 1\n"
        "  lr: 0.001\n  warmup_steps: 1\n  sample_max_new_tokens: 5\n  sample_sentences: [Hello there.]\n"
        f"evaluation:\n  sentences: [Hello there.]\n  device: cpu\n  asr_model: {whisper_tiny}\n"
        "  max_generation_seconds: 1.0\n  max_wer: null\n  min_speaker_similarity: null\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TTS_ASSETS_DATA_ROOT": str(data), "HF_HUB_OFFLINE": "1",
           "TTS_ASSETS_SETTINGS": str(settings), "TTS_ASSETS_TRAINING_CRON": "* * * * *",
           "TTS_ASSETS_SENSOR_INTERVAL_S": "5"}
    ui_port, tts_port = free_port(), free_port()
    processes = [
        subprocess.Popen([BIN / "dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(ui_port)],
                         cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
        subprocess.Popen([BIN / "dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO, env=env,
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
        subprocess.Popen([BIN / "tts-assets", "serve", "--port", str(tts_port), "--device", "cpu"], cwd=tmp_path,
                         env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
    ]
    try:
        _wait("the code location", lambda: location_loaded(ui_port), 300)
        _wait("the TTS server", lambda: _get(tts_port, "/health"), 300)
        yield DataLayout(data), tts_port, Path(home)
    finally:
        stop(processes)


def _get(port: int, path: str) -> dict | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def _served_voices(port: int) -> set[str]:
    return {v["id"] for v in (_get(port, "/v1/voices") or {}).get("data", [])}


def _training_runs() -> list:
    with dg.DagsterInstance.get() as instance:  # the test's $DAGSTER_HOME
        return instance.get_run_records(dg.RunsFilter(job_name="nightly_train"))


def test_books_dropped_into_the_inbox_become_a_served_voice(running, tmp_path, monkeypatch):
    layout, tts_port, home = running
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    model_dir = run_dir(layout, VOICE)
    inbox = layout.root / "inbox" / VOICE_FOLDER
    inbox.mkdir(parents=True)
    assert VOICE not in _served_voices(tts_port)

    # 1. A first book: built, aligned, trained at the next tick, evaluated, promoted, served.
    first = _book(tmp_path / "first.flac", LIBRIVOX_IDS)
    shutil.copy(first, inbox / "Chapter One.flac")
    promoted = _wait("the first promoted checkpoint", lambda: read_promoted(layout, VOICE, "qwen3"))
    assert layout.aligned_manifest(VOICE).is_file()
    first_fingerprint = trained_on(model_dir)
    assert first_fingerprint
    _wait("the server to list the voice without a restart", lambda: VOICE in _served_voices(tts_port), 60)
    speech = httpx.post(f"http://127.0.0.1:{tts_port}/v1/audio/speech", timeout=120,
                        json={"model": "qwen3", "voice": VOICE, "input": "Hello.", "response_format": "wav"})
    assert speech.status_code == 200 and speech.content[:4] == b"RIFF"

    # 2. A second book of the same voice: the dataset changes, so the voice is trained again.
    shutil.copy(_book(tmp_path / "second.flac", LIBRIVOX_IDS[::-1]), inbox / "Chapter Two.flac")
    _wait("training on the second book", lambda: trained_on(model_dir) not in (None, first_fingerprint))
    second = _wait("the second promoted checkpoint",
                   lambda: (p := read_promoted(layout, VOICE, "qwen3")) and p["checkpoint"] != promoted["checkpoint"] and p)
    assert json.loads(layout.dataset_summary(VOICE).read_text())["books"] == 2
    trained = len(_training_runs())

    # 3. The first book dropped again, unchanged: rebuilt and aligned again, and not trained on.
    aligned_before = layout.aligned_manifest(VOICE).stat().st_mtime_ns
    shutil.copy(first, inbox / "Chapter One.flac")
    _wait("the aligned dataset to be rebuilt", lambda: layout.aligned_manifest(VOICE).stat().st_mtime_ns != aligned_before)
    time.sleep(65)  # a schedule tick (every minute here) after the rebuild
    assert len(_training_runs()) == trained
    assert read_promoted(layout, VOICE, "qwen3")["checkpoint"] == second["checkpoint"]

"""The TTS server, started for real (uvicorn on a free 127.0.0.1 port) over a data root holding a
tiny trained Qwen3-TTS voice, spoken to over HTTP: every format, every error, the queue, long texts."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from urllib.parse import unquote

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tts_assets.models.promotion import promote
from tts_assets.layout import DataLayout
from tts_assets.serve.app import create_app
from tts_assets.serve.errors import ServeError
from tts_assets.serve.queue import DeviceQueue, QueueFullError
from tts_assets.serve.server import API_KEY_ENV, serve, start_in_thread
from tts_assets.settings import ServeSettings
from tts_assets.text.sentences import speakable
from tts_assets.text.sentences import text_pieces

from .voice_fixtures import VOICE, copy_data_root, served_voice_build  # noqa: F401

RATE = 24000
PAUSE_S = 0.25
# Short generation caps keep the tiny model quick: each piece is at most max(0.6 s, 0.02 s/char).
SETTINGS = dict(device="cpu", seed=0, max_seconds_per_char=0.02, min_piece_seconds=0.6, sentence_pause_s=PAUSE_S,
                max_input_chars=300, max_body_bytes=4096, max_queue=8)


@pytest.fixture(scope="module")
def layout(served_voice_build, tmp_path_factory):
    return copy_data_root(served_voice_build, tmp_path_factory.mktemp("serve") / "data")


@pytest.fixture(scope="module")
def server(layout):
    app = create_app(layout, ServeSettings(**SETTINGS))
    running = start_in_thread(app)
    yield running, app
    running.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server[0].url, timeout=120) as http:
        yield http


def speak(client, text="He was not an ill disposed young man.", **fields):
    return client.post("/v1/audio/speech", json={"model": "tts-1", "input": text, "voice": VOICE, **fields})


def zero_runs(samples: np.ndarray, min_s: float) -> int:
    """Runs of exact digital silence at least `min_s` long (the pauses the server inserts)."""
    silent = np.concatenate([[0], (samples == 0).astype(int), [0]])
    edges = np.flatnonzero(np.diff(silent))
    return int(np.sum(edges[1::2] - edges[::2] >= min_s * RATE))


def test_binds_loopback_and_reports_health_and_voices(server, client):
    assert server[0].url.startswith("http://127.0.0.1:")
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["voices"] == 1 and health["queue"]["waiting"] == 0
    voices = client.get("/v1/voices").json()["data"]
    assert [v["id"] for v in voices] == [VOICE]
    served = voices[0]["engines"]["qwen3"]
    assert voices[0]["default_engine"] == "qwen3"
    assert served["name"] == "checkpoint-2" and served["step"] == 2 and served["promoted"] is False  # newest
    assert served["checkpoints"] == 2
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["qwen3", "xtts"]


def test_each_format_is_decodable_audio_at_the_model_rate(client):
    responses = {fmt: speak(client, response_format=fmt) for fmt in ("wav", "flac", "mp3", "pcm")}
    for fmt, response in responses.items():
        assert response.status_code == 200, response.text
        assert response.headers["x-sample-rate"] == str(RATE) and response.headers["x-engine"] == "qwen3"
    media = {fmt: r.headers["content-type"] for fmt, r in responses.items()}
    assert media == {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "pcm": "audio/pcm"}

    wav, rate = sf.read(io.BytesIO(responses["wav"].content), dtype="int16")
    assert rate == RATE and sf.info(io.BytesIO(responses["wav"].content)).subtype == "PCM_16"
    assert len(wav) / RATE >= 0.5 and np.abs(wav).max() > 1000  # audible, as long as the cap allows
    flac, rate = sf.read(io.BytesIO(responses["flac"].content), dtype="int16")
    pcm = np.frombuffer(responses["pcm"].content, dtype="<i2")
    # Same seed, same samples: FLAC is lossless and pcm is the WAV's data without its header.
    assert rate == RATE and np.array_equal(flac, wav) and np.array_equal(pcm, wav)
    with av.open(io.BytesIO(responses["mp3"].content)) as container:
        stream = container.streams.audio[0]
        assert container.format.name == "mp3" and stream.rate == RATE
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    assert abs(len(decoded) - len(wav)) <= 2 * 1152  # encoder delay and padding only


def test_default_format_is_mp3_and_voice_may_be_an_object(client):
    response = client.post("/v1/audio/speech", json={"model": "qwen3", "input": "Hello there.", "voice": {"id": VOICE}})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"


@pytest.mark.parametrize("fields, status, code, param", [
    ({"voice": "nobody"}, 400, "unknown_voice", "voice"),
    ({"response_format": "ogg"}, 400, "unsupported_response_format", "response_format"),
    ({"input": ""}, 400, "empty_input", "input"),
    ({"input": " \n\t "}, 400, "empty_input", "input"),
    ({"input": "..."}, 400, "empty_input", "input"),  # nothing speakable: no letter or digit
    ({"input": "\u200b\u200b"}, 400, "empty_input", "input"),  # zero-width spaces
    ({"input": "\U0001f600 \U0001f389!"}, 400, "empty_input", "input"),  # emoji only
    ({"input": "Words. " * 60}, 400, "input_too_long", "input"),  # 360 characters > 300
    ({"input": "1234567890. " * 20}, 400, "input_too_long", "input"),  # 240 characters, 2000+ spelled out
    ({"speed": 5.0}, 400, "invalid_speed", "speed"),
    ({"model": "xtts"}, 400, "unknown_model", "model"),  # the voice has no XTTS checkpoint
    ({"input": None}, 400, "invalid_request", "input"),
])
def test_bad_requests_get_a_json_error(client, fields, status, code, param):
    body = {"model": "tts-1", "input": "Hello.", "voice": VOICE, **fields}
    response = client.post("/v1/audio/speech", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"]
    if code == "unknown_voice":
        assert "'nobody'" in error["message"] and VOICE in error["message"]
    if code == "input_too_long" and body["input"][0].isdigit():
        assert "once numbers and abbreviations are spelled out" in error["message"]


@pytest.mark.parametrize("fields", [{}, {"stream_format": "audio"}, {"stream_format": "sse"}])
def test_unencodable_input_is_a_400_also_streamed(client, fields):
    """A lone surrogate is valid JSON (`"\\ud800"`) but no text: refused before any piece is spoken."""
    body = json.dumps({"model": "tts-1", "input": "Hello there. Then \ud800 came.", "voice": VOICE,
                       "response_format": "pcm", **fields})  # ASCII JSON: httpx cannot encode the surrogate
    response = client.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["param"] == "input"
    assert error["message"] == "input is not valid Unicode (surrogates not allowed at character 18)"


def test_malformed_and_oversized_bodies_are_refused(client):
    broken = client.post("/v1/audio/speech", content=b'{"input": "x", ', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    big = json.dumps({"model": "tts-1", "input": "x" * 5000, "voice": VOICE})
    oversized = client.post("/v1/audio/speech", content=big, headers={"content-type": "application/json"})
    assert oversized.status_code == 413 and oversized.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: refused while it streams in
        for _ in range(20):
            yield b" " * 500

    streamed = client.post("/v1/audio/speech", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"
    assert client.get("/no/such/path").json()["error"]["code"] == "not_found"


def test_concurrent_requests_are_serialized(server):
    running, app = server
    results, errors = {}, []
    texts = [f"Request number {word} is spoken alone, one at a time." for word in ("one", "two", "three", "four")]
    barrier = threading.Barrier(len(texts))

    def post(index):
        try:
            with httpx.Client(base_url=running.url, timeout=120) as http:
                barrier.wait()
                sent = time.monotonic()
                response = speak(http, texts[index], response_format="pcm")
                results[index] = (sent, time.monotonic(), response)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and len(results) == len(texts)
    assert all(r.status_code == 200 for _, _, r in results.values())
    # All four were in flight together: each was sent before the first answer came back ...
    assert max(sent for sent, _, _ in results.values()) < min(done for _, done, _ in results.values())
    # ... yet the device ran their syntheses one after another, never overlapping.
    ids = {int(r.headers["x-job-id"]) for _, _, r in results.values()}
    jobs = sorted((j for j in app.state.service.queue.history if j.id in ids), key=lambda j: j.started)
    assert len(jobs) == len(texts)
    for earlier, later in zip(jobs, jobs[1:]):
        assert earlier.finished <= later.started
    waits = sorted(float(r.headers["x-queue-wait-ms"]) for _, _, r in results.values())
    synth = min(float(r.headers["x-synthesis-ms"]) for _, _, r in results.values())
    assert waits[-1] >= 2 * synth  # the last one waited for at least the others' syntheses


def test_full_queue_answers_503(layout):
    app = create_app(layout, ServeSettings(**{**SETTINGS, "max_queue": 0, "max_input_chars": 2000,
                                              "max_body_bytes": 8192}))
    running = start_in_thread(app)
    try:
        long_text = " ".join(f"Sentence {n} keeps the device busy for a while." for n in range(12))
        first = {}

        def busy_request():
            with httpx.Client(base_url=running.url, timeout=120) as http:
                first["r"] = speak(http, long_text, response_format="pcm")

        worker = threading.Thread(target=busy_request)
        worker.start()
        with httpx.Client(base_url=running.url, timeout=30) as http:
            deadline = time.monotonic() + 60
            while not http.get("/health").json()["queue"]["busy"] and time.monotonic() < deadline:
                time.sleep(0.01)
            refused = speak(http, "Me too.")
        worker.join(120)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "queue_full"
        assert refused.headers["retry-after"] == "5"
        assert first["r"].status_code == 200
    finally:
        running.stop()


def send_speech(url: str, **fields) -> socket.socket:
    """A speech request on a raw socket, so that the test decides when its client goes away."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"model": "tts-1", "voice": VOICE, **fields}).encode()
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return sock


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_clients_that_leave_while_waiting_have_their_jobs_dropped(layout, caplog):
    caplog.set_level(logging.INFO, logger="tts_assets.serve.service")
    app = create_app(layout, ServeSettings(**{**SETTINGS, "max_input_chars": 2000, "max_body_bytes": 8192}))
    queue = app.state.service.queue
    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            def queued():
                return http.get("/health").json()["queue"]

            release = threading.Event()
            queue.submit(release.wait, label="blocker")  # holds the device while the others wait
            clients = [send_speech(running.url, input="Plain.", response_format="pcm"),
                       send_speech(running.url, input="Streamed.", response_format="pcm", stream_format="audio"),
                       send_speech(running.url, input="Events.", response_format="pcm", stream_format="sse")]
            wait_for(lambda: queued()["waiting"] == len(clients), "the requests were not queued")
            for sock in clients:
                sock.close()
            wait_for(lambda: queued()["waiting"] == 0, "jobs of clients gone stayed queued", timeout=10)
            assert queued()["busy"]  # dropped while the blocker still held the device
            release.set()
            wait_for(lambda: not queued()["busy"], "the blocker did not finish")
            assert [job.label for job in queue.history] == ["blocker"]  # none of theirs ever ran
            assert speak(http, "Still here.", response_format="pcm").status_code == 200

            # A client that leaves while its (not streamed) speech is spoken stops it after its piece.
            long_text = " ".join(f"Sentence {n} keeps the device busy for a while." for n in range(12))
            leaving = send_speech(running.url, input=long_text, response_format="pcm")
            wait_for(lambda: queued()["busy"], "the long request did not start")
            leaving.close()
            wait_for(lambda: not queued()["busy"], "the long request did not stop")
        stopped = [r.getMessage() for r in caplog.records if "the client went away" in r.getMessage()]
        assert stopped and re.search(r"stopped after ([1-9]|1[01]) of 12 pieces", stopped[-1])
    finally:
        running.stop()


def test_device_queue_bounds_waiting_jobs():
    queue = DeviceQueue("cpu", max_waiting=1)
    release = threading.Event()
    running, _ = queue.submit(release.wait)
    waiting, _ = queue.submit(lambda: "second")
    with pytest.raises(QueueFullError):
        queue.submit(lambda: "third")
    release.set()
    assert running.result(10) is True and waiting.result(10) == "second"
    assert queue.submit(lambda: "fourth")[0].result(10) == "fourth"  # room again
    queue.shutdown()


def test_sentence_splitting():
    text = speakable('Mr. Smith paid $5 on the 3rd of May. "Really?" she asked! Yes... it was.\nA new line')
    assert text_pieces(text) == ["mister Smith paid five dollars on the third of May.", '"Really?" she asked!',
                                 "Yes... it was.", "A new line"]
    long = "A sentence that runs on and on, " + "with many more words that follow it " * 8 + "until the end."
    pieces = text_pieces(long, max_chars=80)
    assert all(len(p) <= 80 for p in pieces) and " ".join(pieces) == long
    assert pieces[0] == "A sentence that runs on and on,"  # at the clause mark, else at a space
    assert text_pieces("Hello. ... \U0001f600\nWorld \u200b") == ["Hello.", "World \u200b"]  # nothing to speak: dropped


def test_huge_numbers_are_read_digit_by_digit():
    assert speakable("Call 4012888888881881 now.") == ("Call four zero one two eight eight eight eight eight eight "
                                                      "eight eight one eight eight one now.")
    assert speakable("It is 123,456.") == "It is one hundred twenty three thousand four hundred and fifty six."
    assert speakable("9" * 400) == " ".join(["nine"] * 400)
    assert speakable("3.14159265358979323846").startswith("three point one four one five nine")


def test_other_languages_are_normalized_as_their_datasets_are():
    assert speakable("Er zahlte 3,5 Millionen.\nUnd 1.000 Euro.", "de") == (
        "Er zahlte drei Komma fünf Millionen.\nUnd eintausend Euro.")
    assert speakable("5 ആപ്പിളുകൾ", "ml") == "5 ആപ്പിളുകൾ"  # numbers of languages not spelled: sent as they are


def test_unexpected_errors_get_a_json_500(layout):
    app = create_app(layout, ServeSettings(**{**SETTINGS, "max_input_chars": 1000, "max_body_bytes": 8192}))

    @app.get("/v1/broken")
    def broken():
        raise RuntimeError("something\nbroke")

    @app.get("/v1/broken-name")
    def broken_name():
        raise RuntimeError("no such file: caf\udce9.wav")  # a file name that is not UTF-8

    running = start_in_thread(app)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            failed = http.get("/v1/broken")
            assert failed.status_code == 500 and failed.headers["content-type"] == "application/json"
            assert failed.json()["error"] == {"message": "internal server error (RuntimeError: something broke)",
                                              "type": "server_error", "param": None, "code": "internal_error"}
            unencodable = http.get("/v1/broken-name")  # its message cannot be UTF-8: escaped as Python shows it
            assert unencodable.status_code == 500 and unencodable.headers["content-type"] == "application/json"
            assert unencodable.json()["error"]["message"] == (
                "internal server error (RuntimeError: no such file: caf\\udce9.wav)")
            digits = speak(http, "9" * 400)  # within the limit as sent; spelled out, 2000 characters
            assert digits.status_code == 400 and digits.json()["error"]["code"] == "input_too_long"
    finally:
        running.stop()


def test_a_voice_with_unreadable_files_does_not_break_the_others(layout, client):
    record = layout.models_dir("broken") / "qwen3" / "latest.json"
    record.parent.mkdir(parents=True)
    record.write_text("{not json")
    try:
        voices = client.get("/v1/voices").json()
        assert [v["id"] for v in voices["data"]] == [VOICE]
        [unavailable] = voices["unavailable"]
        assert unavailable["id"] == "broken" and unavailable["engine"] == "qwen3"
        # Relative to the data root: no absolute path.
        assert unavailable["reason"].startswith("models/broken/qwen3/latest.json: unreadable promotion record (")
        assert client.get("/health").json()["voices"] == 1
        assert speak(client, "Hello.", response_format="pcm").status_code == 200
        refused = speak(client, "Hello.", voice="broken")
        assert refused.status_code == 503 and refused.headers["content-type"] == "application/json"
        error = refused.json()["error"]
        assert error["code"] == "voice_unavailable" and error["param"] == "voice"
        assert "voice 'broken' cannot be served" in error["message"]
        assert "unreadable promotion record" in error["message"] and "\n" not in error["message"]
    finally:
        shutil.rmtree(layout.models_dir("broken"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_voice_folder_does_not_break_the_others(layout, client):
    locked = layout.models_dir("locked")
    (locked / "qwen3").mkdir(parents=True)
    locked.chmod(0)
    try:
        voices = client.get("/v1/voices")
        assert voices.status_code == 200 and [v["id"] for v in voices.json()["data"]] == [VOICE]
        assert voices.json()["unavailable"] == [{"id": "locked", "engine": None,
                                                 "reason": "[Errno 13] Permission denied: 'models/locked/qwen3'"}]
        assert client.get("/health").json()["voices"] == 1
        assert speak(client, "Hello.", response_format="pcm").status_code == 200
        refused = speak(client, "Hello.", voice="locked", model="qwen3")
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "voice_unavailable"
        assert refused.json()["error"]["message"] == ("voice 'locked' cannot be served: [Errno 13] Permission "
                                                      "denied: 'models/locked/qwen3'")
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked)


def test_a_voice_folder_named_in_no_utf8_is_unavailable_not_a_500(layout, client):
    """Python names it with surrogate escapes, which no JSON body or header can carry."""
    folder = os.path.join(os.fsencode(layout.root / "models"), b"caf\xe9")  # Latin-1, as old archives name it
    os.symlink(os.fsencode(layout.models_dir(VOICE)), folder, target_is_directory=True)
    try:
        voices = client.get("/v1/voices")
        assert voices.status_code == 200 and [v["id"] for v in voices.json()["data"]] == [VOICE]
        assert voices.json()["unavailable"] == [{"id": "caf\\udce9", "engine": None,
                                                 "reason": "folder name is not valid UTF-8; rename it"}]
        refused = speak(client, "Hello.", voice="caf\\udce9")  # the id as listed
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "voice_unavailable"
        body = json.dumps({"input": "Hello.", "voice": "caf\udce9"})  # the surrogate itself, as ASCII JSON
        unknown = client.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_voice"
        assert speak(client, "Hello.", response_format="pcm").status_code == 200
    finally:
        os.unlink(folder)


def test_a_voice_folder_named_in_decomposed_unicode_is_found_composed(layout, client):
    """macOS writes folder names decomposed (NFD); clients send the composed form (NFC)."""
    composed = "Zoë"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    layout.models_dir(decomposed).symlink_to(layout.models_dir(VOICE), target_is_directory=True)
    try:
        assert decomposed in [v["id"] for v in client.get("/v1/voices").json()["data"]]
        for name in (composed, decomposed):
            spoken = speak(client, "Hello.", voice=name, response_format="pcm")
            assert spoken.status_code == 200, (name, spoken.text)
    finally:
        layout.models_dir(decomposed).unlink()


def test_a_voice_folder_named_in_any_script_is_served(layout, client):
    """Headers are Latin-1 bytes: X-Voice carries the id percent-encoded (UTF-8), an ASCII id unchanged."""
    name = "Željka 声"
    layout.models_dir(name).symlink_to(layout.models_dir(VOICE), target_is_directory=True)
    try:
        assert name in [v["id"] for v in client.get("/v1/voices").json()["data"]]
        whole = speak(client, "Hello.", voice=name, response_format="pcm")
        assert whole.status_code == 200 and whole.headers["x-voice"] == "%C5%BDeljka%20%E5%A3%B0"
        assert unquote(whole.headers["x-voice"]) == name
        with client.stream("POST", "/v1/audio/speech", json={"input": "Hello.", "voice": name, "response_format": "pcm",
                                                             "stream_format": "audio"}) as streamed:
            assert streamed.status_code == 200 and streamed.read() == whole.content
            assert streamed.headers["x-voice"] == whole.headers["x-voice"]
        assert speak(client, "Hello.", response_format="pcm").headers["x-voice"] == VOICE
    finally:
        layout.models_dir(name).unlink()


def test_long_text_is_spoken_sentence_by_sentence_and_joined(client):
    text = "The first sentence is here. The second one follows it! And is there a third?"
    response = speak(client, text, response_format="wav")
    assert response.status_code == 200 and response.headers["x-text-pieces"] == "3"
    samples, _ = sf.read(io.BytesIO(response.content), dtype="int16")
    assert zero_runs(samples, PAUSE_S * 0.9) == 2  # the two pauses the joins inserted
    single = sf.read(io.BytesIO(speak(client, "The first sentence is here.", response_format="wav").content),
                     dtype="int16")[0]
    assert np.array_equal(samples[: len(single)], single)  # piece 1 is that sentence spoken alone (seed 0)
    assert len(samples) > len(single) + 2 * PAUSE_S * RATE


THREE_SENTENCES = "The first sentence is here. The second one follows it! And is there a third?"


def sse_events(response) -> list[dict]:
    return [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line.startswith("data: ")]


@pytest.mark.parametrize("response_format", ["wav", "pcm"])
def test_streamed_audio_is_the_whole_response_sent_piece_by_piece(client, response_format):
    def samples(content: bytes) -> np.ndarray:
        if response_format == "pcm":
            return np.frombuffer(content, dtype="<i2")
        return sf.read(io.BytesIO(content), dtype="int16")[0]

    whole = speak(client, THREE_SENTENCES, response_format=response_format)
    with client.stream("POST", "/v1/audio/speech", json={"input": THREE_SENTENCES, "voice": VOICE,
                                                         "response_format": response_format,
                                                         "stream_format": "audio"}) as streamed:
        assert streamed.status_code == 200 and streamed.headers["x-text-pieces"] == "3"
        assert "x-synthesis-ms" not in streamed.headers  # unknown when the answer starts
        content = streamed.read()
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert np.array_equal(samples(content), samples(whole.content))  # same seed, same samples and pauses


def test_streamed_mp3_is_one_stream_every_decoder_reads_to_the_end(client):
    """One encoder for the whole response: no per-piece Xing header that makes libsndfile stop
    after the first piece."""
    whole = sf.read(io.BytesIO(speak(client, THREE_SENTENCES, response_format="wav").content), dtype="int16")[0]
    with client.stream("POST", "/v1/audio/speech", json={"input": THREE_SENTENCES, "voice": VOICE,
                                                         "response_format": "mp3", "stream_format": "audio"}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
        content = r.read()
    decoded, rate = sf.read(io.BytesIO(content), dtype="int16")
    assert rate == RATE and abs(len(decoded) - len(whole)) <= 2 * 1152  # encoder delay and padding only
    with av.open(io.BytesIO(content)) as container:
        assert abs(sum(f.samples for f in container.decode(audio=0)) - len(whole)) <= 2 * 1152


def test_server_sent_events_carry_one_delta_per_piece_then_done(client):
    whole = np.frombuffer(speak(client, THREE_SENTENCES, response_format="pcm").content, dtype="<i2")
    with client.stream("POST", "/v1/audio/speech", json={"input": THREE_SENTENCES, "voice": VOICE,
                                                         "response_format": "pcm", "stream_format": "sse"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert [e["type"] for e in events] == ["speech.audio.delta"] * 3 + ["speech.audio.done"]
    pieces = [np.frombuffer(base64.b64decode(e["audio"]), dtype="<i2") for e in events[:3]]
    assert np.array_equal(np.concatenate(pieces), whole)
    assert events[-1]["usage"]["text_pieces"] == 3
    assert events[-1]["usage"]["audio_seconds"] == pytest.approx(len(whole) / RATE, abs=0.01)
    # Every delta after the first starts with the pause that separates the pieces.
    assert all(not piece[: int(PAUSE_S * RATE * 0.9)].any() for piece in pieces[1:])


@pytest.mark.parametrize("fields, code, param", [
    ({"stream_format": "chunks"}, "unsupported_stream_format", "stream_format"),
    ({"stream_format": "audio", "response_format": "flac"}, "unsupported_response_format", "response_format"),
])
def test_unstreamable_requests_get_a_json_error(client, fields, code, param):
    response = speak(client, **fields)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["param"] == param


def test_a_client_that_leaves_mid_stream_stops_the_synthesis(server, caplog):
    running, app = server
    caplog.set_level(logging.INFO, logger="tts_assets.serve.service")
    text = " ".join(f"Piece {word} is here." for word in
                    ("one", "two", "three", "four", "five", "six", "seven", "eight"))
    with httpx.Client(base_url=running.url, timeout=120) as http:
        with http.stream("POST", "/v1/audio/speech", json={"input": text, "voice": VOICE, "response_format": "pcm",
                                                           "stream_format": "sse"}) as response:
            assert response.status_code == 200 and response.headers["x-text-pieces"] == "8"
            next(line for line in response.iter_lines() if line.startswith("data: "))  # the first piece only
        job = int(response.headers["x-job-id"])
    deadline = time.monotonic() + 60
    while not any(j.id == job and j.finished for j in app.state.service.queue.history):
        assert time.monotonic() < deadline, "the abandoned stream's synthesis did not stop"
        time.sleep(0.1)
    stopped = [r.getMessage() for r in caplog.records if "the client went away" in r.getMessage()]
    assert stopped and re.search(r"stopped after [1-7] of 8 pieces", stopped[-1])


def test_speed_stretches_time(client):
    normal = speak(client, "Hello there, my friend.", response_format="pcm")
    fast = speak(client, "Hello there, my friend.", response_format="pcm", speed=2.0)
    assert fast.status_code == 200
    ratio = len(fast.content) / len(normal.content)
    assert 0.45 <= ratio <= 0.55


def test_promoted_checkpoint_is_served(layout, client):
    first = sorted((layout.models_dir(VOICE) / "qwen3").glob("checkpoint-*"))[0]
    assert first.name == "checkpoint-1"
    promote(layout, VOICE, "qwen3", first)
    try:
        served = client.get("/v1/voices").json()["data"][0]["engines"]["qwen3"]
        assert served["name"] == "checkpoint-1" and served["promoted"] is True
        response = speak(client, "Hello.", response_format="wav")
        assert response.status_code == 200 and response.headers["x-checkpoint"] == "checkpoint-1"
    finally:
        (layout.models_dir(VOICE) / "qwen3" / "latest.json").unlink()


def test_api_key_guards_everything_but_health(layout):
    running = start_in_thread(create_app(layout, ServeSettings(**SETTINGS), api_key="s3cret"))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            assert http.get("/health").status_code == 200
            for path in ("/v1/voices", "/docs", "/openapi.json", "/redoc"):
                refused = http.get(path)
                assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key", path
                assert http.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200, path
            assert http.get("/v1/voices", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert http.get("/v1/voices", headers={"Authorization": "s3cret"}).status_code == 401
            for scheme in ("bearer", "BEARER"):  # the scheme is case-insensitive (RFC 9110)
                assert http.get("/v1/voices", headers={"Authorization": f"{scheme} s3cret"}).status_code == 200

            # /health is open: it names the loaded checkpoints relative to the data root, no absolute path.
            spoken = http.post("/v1/audio/speech", json={"input": "Hello.", "voice": VOICE, "response_format": "pcm"},
                               headers={"Authorization": "Bearer s3cret"})
            assert spoken.status_code == 200
            health = http.get("/health")
            assert health.json()["loaded"] == [f"qwen3:models/{VOICE}/qwen3/checkpoint-2"]
            assert str(layout.root) not in health.text
    finally:
        running.stop()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_health_names_no_path_of_an_unreadable_data_root(tmp_path):
    (tmp_path / "models").mkdir(mode=0)
    running = start_in_thread(create_app(DataLayout(tmp_path), ServeSettings(**SETTINGS), api_key="s3cret"))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            health = http.get("/health")
        assert health.status_code == 200 and health.json()["voices"] == "unreadable: Permission denied"
    finally:
        running.stop()
        (tmp_path / "models").chmod(0o755)


def test_an_empty_api_key_is_refused_not_taken_for_none(layout):
    from tts_assets.cli import serve as serve_command

    with pytest.raises(ServeError, match="API key: empty"):
        create_app(layout, ServeSettings(**SETTINGS), api_key="")
    with socket.socket() as busy:  # refused before binding (a regression fails on the port, never serves)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        command = ["--port", str(busy.getsockname()[1]), "--data-root", str(layout.root)]
        for args, env in (([], {API_KEY_ENV: ""}), (["--api-key", ""], {API_KEY_ENV: None})):
            result = CliRunner().invoke(serve_command, command + args, env=env)
            assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
            assert result.stderr.startswith("tts-assets: API key: empty")


SERVE = "import sys; from tts_assets.serve import serve; serve(sys.argv[1], port=0, device='cpu', log_level='warning')"


def test_serve_runs_until_interrupted(layout, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", SERVE, str(layout.root)], stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        line = child.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert f"{VOICE} (qwen3)" in line
        with httpx.Client(base_url=match.group(1), timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert http.get("/health").json()["status"] == "ok"
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            assert http.get("/v1/voices").json()["data"][0]["id"] == VOICE
        child.send_signal(signal.SIGINT)  # Ctrl-C: a clean shutdown and exit status 0
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    with pytest.raises(ServeError, match="no such data root"):
        serve(tmp_path / "missing")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ServeError, match="cannot listen"):
            serve(layout.root, port=busy.getsockname()[1])


def test_settings_come_from_the_serve_section(tmp_path):
    from tts_assets.errors import InputFileError

    path = tmp_path / "settings.yaml"
    path.write_text("dataset: {}\nserve:\n  max_queue: 3\n  seed: 7\n  device: cuda\n")
    settings = ServeSettings.load(path, device="cpu")
    assert (settings.max_queue, settings.seed, settings.device, settings.default_format) == (3, 7, "cpu", "mp3")
    path.write_text("serve:\n  max_qeue: 3\n")
    with pytest.raises(InputFileError, match=f"{path}.*max_qeue"):
        ServeSettings.load(path)


def test_mp3_without_libsndfile_support_goes_through_pyav():
    from tts_assets.serve.audio import mp3_with_pyav

    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)
    with av.open(io.BytesIO(mp3_with_pyav(tone, RATE))) as container:
        stream = container.streams.audio[0]
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        assert container.format.name == "mp3" and stream.rate == RATE
    assert abs(len(decoded) - RATE) <= 2 * 1152
    spectrum = np.abs(np.fft.rfft(decoded[:RATE]))
    assert abs(np.argmax(spectrum) * RATE / len(decoded[:RATE]) - 220) < 2  # still the 220 Hz tone

"""The XTTS engine behind the same server and evaluation: a tiny XTTS voice (random GPT, real
HiFi-GAN decoder; xtts_fixtures.py) trained for one step, served over HTTP and evaluated."""

from __future__ import annotations

import io
import math

import httpx
import numpy as np
import soundfile as sf

from tts_assets.evaluate.evaluate import evaluate_and_record
from tts_assets.models.promotion import read_promoted
from tts_assets.settings import EvaluationSettings
from tts_assets.layout import DataLayout
from tts_assets.serve.app import create_app
from tts_assets.serve.server import start_in_thread
from tts_assets.settings import ServeSettings

from .xtts_fixtures import (  # noqa: F401
    VOICE,
    tiny_xtts_base,
    write_voice_config,
    xtts_data_root,
    xtts_dataset_root,
)


def test_xtts_voice_is_served_and_evaluated(xtts_data_root, tiny_xtts_base, tmp_path, monkeypatch, whisper_tiny):
    from tts_assets.xtts.config import XttsVoiceConfig
    from tts_assets.xtts.export import export_xtts_dataset
    from tts_assets.xtts.train import train_xtts

    write_voice_config(tmp_path / "configs" / f"{VOICE}_xtts.yaml", tiny_xtts_base)
    monkeypatch.setenv("TTS_ASSETS_XTTS_CONFIGS", str(tmp_path / "configs"))
    layout = DataLayout(xtts_data_root)
    config = XttsVoiceConfig.for_voice(layout, VOICE)
    export_xtts_dataset(layout, config)
    checkpoint = train_xtts(layout, config).last_checkpoint

    running = start_in_thread(create_app(layout, ServeSettings(device="cpu", seed=0)))
    try:
        with httpx.Client(base_url=running.url, timeout=300) as http:
            (voice,) = http.get("/v1/voices").json()["data"]
            assert voice["id"] == VOICE and list(voice["engines"]) == ["xtts"] and voice["default_engine"] == "xtts"
            served = voice["engines"]["xtts"]
            assert served["promoted"] is False and served["checkpoints"] == 1
            response = http.post("/v1/audio/speech", json={"model": "xtts", "input": "Hello there.", "voice": VOICE,
                                                           "response_format": "wav"})
            assert response.status_code == 200, response.text
            assert response.headers["x-engine"] == "xtts" and response.headers["x-sample-rate"] == "24000"
            audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
            assert rate == 24000 and len(audio) > 0.5 * rate and np.abs(audio).max() > 0.01

            settings = EvaluationSettings(sentences=["Hello there."], asr_model=whisper_tiny, device="cpu",
                                          max_wer=None, min_speaker_similarity=None, max_seconds_per_char=None)
            evaluation, promoted = evaluate_and_record(layout, VOICE, checkpoint, settings, engine="xtts")
            figures = evaluation.figures
            assert all(math.isfinite(figures[k]) for k in ("wer", "speaker_similarity", "seconds_per_char_max"))
            assert evaluation.passed and promoted
            assert read_promoted(layout, VOICE, "xtts")["checkpoint"] == f"{config.training.run_name}/{checkpoint.name}"
            served = http.get("/v1/voices").json()["data"][0]["engines"]["xtts"]
            assert served["promoted"] is True and served["name"] == checkpoint.name
    finally:
        running.stop()

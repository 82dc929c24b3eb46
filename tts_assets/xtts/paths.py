"""Every XTTS path, as a function of the DataLayout (layout.py holds the dataset's own paths)."""

from __future__ import annotations

import os
from pathlib import Path

from tts_assets.layout import DataLayout

CONFIG_DIR_ENV = "TTS_ASSETS_XTTS_CONFIGS"


# the coqui-format export: <data_root>/datasets/<voice>/xtts/
def export_dir(layout: DataLayout, voice: str) -> Path:
    return layout.dataset_dir(voice) / "xtts"


def export_wavs_dir(layout: DataLayout, voice: str, book: str) -> Path:
    return export_dir(layout, voice) / "wavs" / book


def metadata_train(layout: DataLayout, voice: str) -> Path:
    return export_dir(layout, voice) / "metadata_train.csv"


def metadata_eval(layout: DataLayout, voice: str) -> Path:
    return export_dir(layout, voice) / "metadata_eval.csv"


def export_manifest(layout: DataLayout, voice: str) -> Path:
    """One JSON row per exported clip: audio_file, text, split, samples, tokens, source_clip."""
    return export_dir(layout, voice) / "clips.jsonl"


def export_rejections(layout: DataLayout, voice: str) -> Path:
    return export_dir(layout, voice) / "rejections.jsonl"


def export_summary(layout: DataLayout, voice: str) -> Path:
    return export_dir(layout, voice) / "summary.json"


# fine-tuning: <data_root>/models/<voice>/xtts/<run_name>/ (checkpoints, config.json, TensorBoard logs)
def xtts_models_dir(layout: DataLayout, voice: str) -> Path:
    return layout.models_dir(voice) / "xtts"


def latest_training(layout: DataLayout, voice: str) -> Path:
    """The voice's latest training summary, whatever its run name (read by the checks)."""
    return xtts_models_dir(layout, voice) / "latest_training.json"


def latest_samples(layout: DataLayout, voice: str) -> Path:
    """The voice's latest samples record (checkpoint, step, sentences, files)."""
    return xtts_models_dir(layout, voice) / "latest_samples.json"


def run_dir(layout: DataLayout, voice: str, run_name: str) -> Path:
    return xtts_models_dir(layout, voice) / run_name


def training_summary(layout: DataLayout, voice: str, run_name: str) -> Path:
    return run_dir(layout, voice, run_name) / "training_summary.json"


def samples_dir(layout: DataLayout, voice: str, run_name: str, step: int) -> Path:
    return run_dir(layout, voice, run_name) / "samples" / f"step_{step}"


# inputs
def default_base_model_dir(layout: DataLayout) -> Path:
    """Where the XTTS-v2 files go when a voice config names no folder."""
    return layout.root / "base_models" / "xtts_v2"


def voice_config_dir(layout: DataLayout) -> Path:
    """`$TTS_ASSETS_XTTS_CONFIGS`, else `<data root>/configs/tts/`: found from the data, whether the
    package runs from a checkout or was installed."""
    return Path(os.environ.get(CONFIG_DIR_ENV) or layout.root / "configs" / "tts").expanduser().resolve()


def voice_config_file(layout: DataLayout, voice: str) -> Path:
    """A voice's config when none is named: its `voice.yaml`'s `xtts_config`, else
    `<voice_config_dir>/<voice>_xtts.yaml`."""
    from tts_assets.settings import VoiceSettings

    own = layout.voice_settings(voice)
    chosen = VoiceSettings.load(own).xtts_config if own.is_file() else None
    return Path(chosen) if chosen else voice_config_dir(layout) / f"{voice}_xtts.yaml"

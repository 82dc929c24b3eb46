"""Where Qwen3-TTS files live, as functions of the data layout."""

from pathlib import Path

from tts_assets.layout import DataLayout


def codes_manifest(layout: DataLayout, voice: str) -> Path:
    return layout.dataset_dir(voice) / "train_manifest_qwen3.jsonl"


def codes_store(layout: DataLayout, voice: str) -> Path:
    return layout.dataset_dir(voice) / "qwen3_codes.npz"


def codes_summary(layout: DataLayout, voice: str) -> Path:
    return layout.dataset_dir(voice) / "summary_qwen3_codes.json"


def run_dir(layout: DataLayout, voice: str) -> Path:
    """Checkpoints (`checkpoint-<step>/`) and TensorBoard logs (`tensorboard/`) of the voice."""
    return layout.models_dir(voice) / "qwen3"


def samples_dir(layout: DataLayout, voice: str, checkpoint: str) -> Path:
    return run_dir(layout, voice) / "samples" / checkpoint

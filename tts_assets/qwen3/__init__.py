"""Qwen3-TTS 12 Hz: audio-code manifests, a correct fine-tuning trainer, checkpoints, inference."""

"""Text normalization: what the speaker says, spelled out, so aligners and TTS models see words."""

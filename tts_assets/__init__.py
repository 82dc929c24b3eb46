"""tts_assets: audiobooks and curated clips → TTS training datasets and fine-tuned voices."""

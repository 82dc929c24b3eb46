"""Building a voice's dataset: per-book stages and the per-voice assembly."""

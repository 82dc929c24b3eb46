"""One voice, clean audio: per-segment speaker embeddings, speech and music shares (measure.py),
and the verdicts drawn from them against the voice (judge.py)."""

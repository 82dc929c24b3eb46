"""Probe, stream-decode and cut audio without holding a whole book in memory."""

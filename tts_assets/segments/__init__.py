"""Transcript segments and the pure rules that turn them into clip spans."""

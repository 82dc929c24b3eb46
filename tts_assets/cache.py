"""The user's cache folder for what the project derives once per machine user: joined model files,
compiled grammars, stand-in data files."""

import os
from pathlib import Path


def user_cache(name: str) -> Path:
    """`$XDG_CACHE_HOME/tts_assets/<name>` (`~/.cache` when XDG_CACHE_HOME is unset or empty)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tts_assets" / name

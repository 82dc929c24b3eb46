"""NeMo text processing's normalizers, loaded once a process and only when first used.

Its grammars (pynini FSTs) are compiled once per language into a cache folder: for English the
deterministic ones in about a minute (they load in about a second later). NeMo's multi-reading
grammars (NormalizerWithAudio) are not used: they took 25 CPU minutes to compile and load in ~25 s
every process (NeMo derives a digit-free variant of them on each load); the readings the audio
chooses among are written out and read by the deterministic ones (`normalize.spoken_readings`).
The folder is `$TTS_ASSETS_NEMO_CACHE/<lang>`, else
`$XDG_CACHE_HOME/tts_assets/nemo_grammars/<lang>` (`~/.cache` without XDG_CACHE_HOME);
`bin/setup --test` fills the English one (`python -m tts_assets.text.nemo en`).
NeMo itself is imported here only, inside the loaders: the Dagster code location never loads it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

from tts_assets.cache import user_cache

log = logging.getLogger(__name__)

NEMO_CACHE_ENV = "TTS_ASSETS_NEMO_CACHE"
# The languages NeMo normalizes for us; the others keep the rules of `other_languages` until NeMo's
# grammars for them are checked against what those rules refuse to guess (agreement, declension).
NEMO_LANGUAGES = frozenset({"en"})


def grammar_cache_dir(lang: str) -> Path:
    root = os.environ.get(NEMO_CACHE_ENV)
    if not root:
        root = user_cache("nemo_grammars")
    return Path(root) / lang


@lru_cache(maxsize=None)
def deterministic_normalizer(lang: str):
    """NeMo's one reading of a text, loaded once a process (compiled once into the cache)."""
    from nemo_text_processing.text_normalization.normalize import Normalizer

    # NeMo logs at INFO to its own handler, a line for each sentence it leaves unpostprocessed
    # (and resets its level on every call), which would drown a book's log; its warnings still show.
    logging.getLogger("NeMo-text-processing").addFilter(lambda record: record.levelno >= logging.WARNING)
    cache = grammar_cache_dir(lang)
    cache.mkdir(parents=True, exist_ok=True)
    # Processes that start together (Dagster runs, pytest workers) compile one at a time and the
    # later ones read the finished .far files rather than a half-written one.
    with open(cache / ".compile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = cache / "ready"
        if not ready.exists():
            log.info("compiling NeMo %s text normalization grammars into %s, once (about a minute)", lang, cache)
        started = time.perf_counter()
        normalizer = Normalizer(input_case="cased", lang=lang, cache_dir=str(cache))
        ready.touch()
        log.info("NeMo %s normalizer ready in %.1f s", lang, time.perf_counter() - started)
    return normalizer


if __name__ == "__main__":  # bin/setup: compile the grammars of the languages named
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for language in sys.argv[1:]:
        deterministic_normalizer(language)

"""NeMo text processing's normalizers, loaded once a process and only when first used.

Its grammars (pynini FSTs) are compiled once per language into a cache folder: for English the
deterministic ones in about a minute, French too, Spanish in two to three (they load in a second or
two later). NeMo's multi-reading grammars (NormalizerWithAudio) are not used: they took 25 CPU
minutes to compile and load in ~25 s every process (NeMo derives a digit-free variant of them on
each load); the readings the audio chooses among are written out and read by the deterministic
ones (`normalize.spoken_readings`).
The folder is `$TTS_ASSETS_NEMO_CACHE/<lang>`, else
`$XDG_CACHE_HOME/tts_assets/nemo_grammars/<lang>` (`~/.cache` without XDG_CACHE_HOME);
`bin/setup --test` fills the English and French ones (`python -m tts_assets.text.nemo en fr`); the
first use of another language compiles its grammars, said in the log with what it costs.
NeMo itself is imported here only, inside the loaders: the Dagster code location never loads it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

from tts_assets.cache import user_cache

log = logging.getLogger(__name__)

NEMO_CACHE_ENV = "TTS_ASSETS_NEMO_CACHE"
# The languages NeMo normalizes for us, checked against what the rules of `other_languages` (which
# the others keep) spell and refuse to guess. NeMo 1.2.0's deterministic grammars, measured here:
# German compiles in ~50 CPU s but reads "1.000" "eins punkt null null null", "1850"
# "ein tausend acht hundert fünfzig" and "am 3. Mai" "am dritter mai"; Italian reads "1.850"
# "uno punto otto cinque zero" and "Sig. Rossi" "signore Rossi"; Portuguese finds no reading of
# "5,50 €" (an FstOpError); Swedish reads "År 1850." "tusen åttahundrafemtionde": our rules stay. Russian has no deterministic grammars (NeMo raises). Spanish and French agree numbers with nothing ("un
# casa"), French leaves units as written ("2,5 kg"): `other_languages.keep_misread` keeps those
# digits, for rejection.
NEMO_LANGUAGES = frozenset({"en", "es", "fr"})
# Minutes of one CPU core a first compile takes (measured here), said in the log before it starts.
COMPILE_MINUTES = {"en": 1, "es": 3, "fr": 1}


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
        started = time.perf_counter()
        compiled = threading.Event()
        if not ready.exists():
            log.info("compiling NeMo %s text normalization grammars into %s, once (about %s min of one CPU core)",
                     lang, cache, COMPILE_MINUTES.get(lang, "a few"))
            threading.Thread(target=_still_compiling, args=(lang, started, compiled), daemon=True).start()
        try:
            normalizer = Normalizer(input_case="cased", lang=lang, cache_dir=str(cache))
        finally:
            compiled.set()
        ready.touch()
        log.info("NeMo %s normalizer ready in %.1f s", lang, time.perf_counter() - started)
    return normalizer


def _still_compiling(lang: str, started: float, compiled: threading.Event) -> None:
    """A line every half minute while a compile runs, so a build's log never goes silent for minutes."""
    while not compiled.wait(30):
        log.info("still compiling NeMo %s grammars (%.0f s so far)", lang, time.perf_counter() - started)


if __name__ == "__main__":  # bin/setup: compile the grammars of the languages named
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for language in sys.argv[1:]:
        deterministic_normalizer(language)

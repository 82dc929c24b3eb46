"""XTTS test fixtures: a tiny offline stand-in for the XTTS-v2 base files (built by
`bench.tiny_models.build_tiny_base_model`, which the GPU training smoke uses too), and a real
aligned dataset (LibriVox speech, built by the project's own pipeline) with clips coqui would swap.
Import the fixtures by name from test modules (conftest.py is not edited for them).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from bench.tiny_models import TINY_GPT, VOICE, build_tiny_base_model, write_voice_config  # noqa: F401

from .conftest import LIBRIVOX_IDS

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_xtts_base(tmp_path_factory) -> Path:
    return build_tiny_base_model(tmp_path_factory.mktemp("xtts_base"))


def _short_word_span(librivox_book) -> tuple[float, float, str]:
    """A real word under 0.5 s inside the first sentence, located by the project's aligner."""
    import numpy as np

    from tts_assets.aligners.base import ALIGN_RATE
    from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner
    from tts_assets.text.normalize import normalize_text, spoken_words

    from .conftest import decoded

    sentence = librivox_book.sentences[0]
    audio = decoded(librivox_book.audio, ALIGN_RATE)[int(sentence["start"] * ALIGN_RATE) : int(sentence["end"] * ALIGN_RATE)]
    words = PocketsphinxAligner().align(np.asarray(audio, dtype=np.float32), spoken_words(normalize_text(sentence["text"])))
    short = [w for w in words if len(w.word) >= 4 and 0.2 < w.end - w.start < 0.42]
    word = min(short, key=lambda w: w.end - w.start)
    return sentence["start"] + word.start, sentence["start"] + word.end, word.word


@pytest.fixture(scope="session")
def xtts_dataset_root(tmp_path_factory, librivox_book) -> Path:
    """A data root holding voice `reader`'s aligned dataset, built by the project's pipeline from
    the LibriVox book registered twice: book `one` has a single-word clip (< 0.5 s) and a 16 s clip
    (three sentences), book `two` the first three sentences: 2 train + 2 eval clips after the export's
    rejections, so one epoch is one step at batch 2. Read-only: copy it (see `xtts_data_root`)."""
    import dagster as dg

    from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
    from tts_assets.layout import DataLayout
    from tts_assets.dataset.sources import BookSource, register_book

    base = tmp_path_factory.mktemp("xtts_dataset")
    root = base / "data"
    layout = DataLayout(root)
    s = librivox_book.sentences
    start, end, word = _short_word_span(librivox_book)
    book_one = [
        {"start": start, "end": end, "text": word},
        {"start": s[1]["start"], "end": s[3]["end"], "text": " ".join(x["text"] for x in s[1:4])},
        dict(s[4]),
    ]
    (base / "one.jsonl").write_text("".join(json.dumps(x) + "\n" for x in book_one))
    (base / "two.jsonl").write_text("".join(json.dumps(x) + "\n" for x in s[:3]))
    settings = base / "settings.yaml"
    settings.write_text(yaml.safe_dump({"dataset": {
        "merge": {"min_clip_s": 0.1, "max_clip_s": 20.0, "merge_below_s": 0.0, "pad_s": 0.0},
        "align": {"pad_s": 0.0},
        # DNSMOS scores but rejects nothing: the single word is here for the XTTS export's own length rule
        "quality": {"val_fraction": 0.5, "min_snr_db": 0, "rate_iqr_k": 100, "max_chars_per_s": 40,
                    "min_dnsmos_ovrl": 0, "dnsmos_below_median": None},
    }}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTS_ASSETS_DATA_ROOT", str(root))
        mp.setenv("TTS_ASSETS_SETTINGS", str(settings))
        mp.setenv("DAGSTER_HOME", str(base / "home"))
        (base / "home").mkdir()
        shutil.copyfile(Path(__file__).parent.parent / "dagster.yaml", base / "home" / "dagster.yaml")
        with dg.DagsterInstance.get() as instance:
            for book in ("one", "two"):
                register_book(layout, VOICE, BookSource("audiobook", str(librivox_book.audio), str(base / f"{book}.jsonl")), book)
                book_run, _ = build_book_and_dataset(instance, VOICE, book)
                assert book_run.success
            assert run_voice_job(instance, "align_voice", VOICE).success
    assert len(LIBRIVOX_IDS) == 5
    return root


@pytest.fixture
def xtts_data_root(xtts_dataset_root, data_root, dagster_home):
    """A fresh copy of the aligned dataset under this test's data root ($TTS_ASSETS_DATA_ROOT).
    The test's checkpoints (~300 MB each, even for the tiny GPT) are deleted afterwards."""
    shutil.copytree(xtts_dataset_root / "datasets", data_root / "datasets")
    yield data_root
    for checkpoint in (data_root / "models").rglob("*.pth"):
        checkpoint.unlink()

"""A build killed (SIGKILL) in the middle of writing clips, then re-run: no manifest ever points
at a half-written clip, and the re-run leaves nothing behind."""

import subprocess
import sys

import dagster as dg
import soundfile as sf

from tts_assets.defs.launch import build_book_and_dataset
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.dataset.sources import BookSource, register_book

KILL_DURING_THIRD_CLIP = """
import os, signal, sys
from pathlib import Path
import numpy as np
import tts_assets.audio.cut as cut
from tts_assets.atomic import atomic_path
from tts_assets.dataset.book import cut_book
from tts_assets.layout import DataLayout
from tts_assets.settings import DatasetSettings

written = []
real_write = cut.write_wav_atomic

def dying_write(target, samples, rate, subtype):
    written.append(target)
    if len(written) == 3:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"RIFF half a clip")
            os.kill(os.getpid(), signal.SIGKILL)
    real_write(target, samples, rate, subtype)

cut.write_wav_atomic = dying_write
settings = DatasetSettings()
cut_book(DataLayout(Path(sys.argv[1])), "v", sys.argv[2], settings.clips, settings.merge)
"""


def assert_manifest_clips_complete(layout):
    for row in read_jsonl(layout.train_manifest("v")):
        info = sf.info(layout.dataset_dir("v") / row["audio_file"])
        assert abs(info.duration - row["duration"]) < 1e-3


def test_killed_build_then_rerun(tmp_path, sample_book, dagster_home, data_root):
    layout = DataLayout(data_root)
    segments = tmp_path / "segments.jsonl"
    sample_book.write_segments(segments)
    book = register_book(layout, "v", BookSource("audiobook", str(sample_book.audio), str(segments)))
    with dg.DagsterInstance.get() as instance:
        build_book_and_dataset(instance, "v", book)
        before = list(read_jsonl(layout.train_manifest("v")))

        killed = subprocess.run([sys.executable, "-c", KILL_DURING_THIRD_CLIP, str(data_root), book])
        assert killed.returncode == -9
        leftovers = [p for p in layout.wavs_dir("v", book).iterdir() if p.name.endswith(".tmp")]
        assert len(leftovers) == 1  # the half-written clip never took a real name
        assert list(read_jsonl(layout.train_manifest("v"))) == before
        assert_manifest_clips_complete(layout)

        book_run, dataset_run = build_book_and_dataset(instance, "v", book)
        assert book_run.success and dataset_run.success
        assert all(e.passed for e in dataset_run.get_asset_check_evaluations())
    assert list(read_jsonl(layout.train_manifest("v"))) == before
    assert_manifest_clips_complete(layout)
    assert not [p for p in layout.wavs_dir("v", book).iterdir() if p.name.endswith(".tmp")]

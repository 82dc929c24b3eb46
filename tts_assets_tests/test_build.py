"""The dataset build materialized through Dagster, asserted on content."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tts_assets.defs.launch import build_book_and_dataset
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.sources import BookSource, register_book

from .conftest import loudness_at, speech_bounds, wer


@pytest.fixture
def instance(dagster_home):
    with dg.DagsterInstance.get() as instance:
        yield instance


def build(instance, layout, voice, source, book=None):
    book = register_book(layout, voice, source, book)
    book_run, dataset_run = build_book_and_dataset(instance, voice, book)
    return book, book_run, dataset_run


def manifest(layout, voice):
    return list(read_jsonl(layout.train_manifest(voice)))


def check_results(run):
    return {e.asset_check_key.name: e.passed for e in run.get_asset_check_evaluations()}


def test_sample_audiobook_end_to_end(instance, data_root, sample_book, whisper_tiny):
    layout = DataLayout(data_root)
    source = BookSource("audiobook", str(sample_book.audio), asr_model=whisper_tiny, language="en")
    book, book_run, dataset_run = build(instance, layout, "joe", source)
    assert book == "sample_book" and book_run.success and dataset_run.success
    assert check_results(dataset_run) == {"accounting_identity": True, "clips_match_manifest": True}

    rows = manifest(layout, "joe")
    assert len(rows) >= 8
    assert set(rows[0]) >= {"audio_file", "text", "duration", "voice", "source", "start", "end", "sample_rate"}
    text = " ".join(r["text"] for r in sorted(rows, key=lambda r: r["start"]))
    assert wer(sample_book.text, text) < 0.15

    chapter_two = next(s["start"] for s in sample_book.sentences if s["chapter"] == 2)
    for row in rows:
        path = layout.dataset_dir("joe") / row["audio_file"]
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
        assert info.duration == pytest.approx(row["duration"], abs=1e-3)
        assert 2.0 <= row["duration"] <= 10.3
        assert not (row["start"] < chapter_two - 1.0 < row["end"])  # no clip spans two chapters
        for cut in (row["start"], row["end"]):
            assert loudness_at(sample_book.audio, cut) < 0.05, f"cut at {cut} s is inside speech"

    parquet = pd.read_parquet(layout.manifest_parquet("joe"))
    assert parquet["audio_file"].tolist() == [r["audio_file"] for r in rows]
    assert parquet["duration"].tolist() == pytest.approx([r["duration"] for r in rows])

    summary = json.loads(layout.dataset_summary("joe").read_text())
    assert summary["segments_accepted"] + summary["segments_rejected"] == summary["segments_total"]
    materialization = instance.get_latest_materialization_event(
        dg.AssetKey("voice_dataset")
    ).asset_materialization
    assert materialization.partition == "joe"
    metadata = materialization.metadata
    assert metadata["clips"].value == len(rows)
    assert metadata["duration_histogram"].value.startswith("![clip durations](data:image/png;base64,")
    assert "| audio_file |" in metadata["sample_rows"].value
    probe_event = instance.get_latest_materialization_event(dg.AssetKey("source_audio"))
    assert probe_event.asset_materialization.metadata["chapters"].value == 2


def test_librivox_cuts_fall_in_the_known_pauses(instance, data_root, librivox_book, whisper_tiny):
    layout = DataLayout(data_root)
    source = BookSource("audiobook", str(librivox_book.audio), asr_model=whisper_tiny, language="en")
    build(instance, layout, "reader", source)
    rows = sorted(manifest(layout, "reader"), key=lambda r: r["start"])
    truth = librivox_book.sentences
    assert len(rows) == len(truth)  # 1 s pauses: no merging, every sentence its own clip
    speech = [speech_bounds(librivox_book.audio, s["start"], s["end"]) for s in truth]
    for i, (row, sentence) in enumerate(zip(rows, truth)):
        onset, offset = speech[i]
        previous_offset = speech[i - 1][1] if i else 0.0
        next_onset = speech[i + 1][0] if i + 1 < len(speech) else 1e9
        assert previous_offset <= row["start"] <= onset, (row["start"], previous_offset, onset)
        assert offset <= row["end"] <= next_onset, (row["end"], offset, next_onset)
        assert wer(sentence["text"], row["text"]) < 0.25


def test_second_book_and_bad_book_of_a_voice(instance, data_root, librivox_book, whisper_tiny, tmp_path):
    """A new book adds to the voice's dataset; an unusable one fails alone and is reported."""
    layout = DataLayout(data_root)
    segments = tmp_path / "segments.jsonl"
    librivox_book.write_segments(segments)
    build(instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)), "one")
    first = manifest(layout, "v")
    empty = tmp_path / "broken.m4b"
    empty.write_bytes(b"")
    _, bad_run, dataset_run = build(instance, layout, "v", BookSource("audiobook", str(empty)))
    assert not bad_run.success and dataset_run.success
    failure = bad_run.get_step_failure_events()[0].step_failure_data.error.message
    assert "broken.m4b: cannot read audio (empty file (0 bytes))" in failure
    rejected = list(read_jsonl(layout.rejections("v")))
    assert [(r["book"], r["reason"]) for r in rejected] == [("broken", "unreadable_audio")]
    assert manifest(layout, "v") == first  # the good book is untouched

    build(instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)), "two")
    books = [r["book"] for r in manifest(layout, "v")]
    assert books.count("one") == books.count("two") == len(first)
    summary = json.loads(layout.dataset_summary("v").read_text())
    assert summary["segments_total"] == 2 * len(librivox_book.sentences) + 1
    assert check_results(dataset_run)["accounting_identity"]


def test_silence_only_book_gives_an_empty_dataset_with_a_reason(instance, data_root, whisper_tiny, tmp_path):
    layout = DataLayout(data_root)
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(16000 * 20, dtype=np.float32), 16000)
    _, book_run, dataset_run = build(
        instance, layout, "quiet", BookSource("audiobook", str(silence), asr_model=whisper_tiny)
    )
    assert book_run.success and dataset_run.success
    assert manifest(layout, "quiet") == []
    [rejection] = read_jsonl(layout.rejections("quiet"))
    assert rejection["reason"] == "no_speech" and "20.0 s" in rejection["detail"]


def test_segments_jsonl_skips_asr_and_rejects_bad_lines(instance, data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    lines = [json.dumps(s) for s in librivox_book.sentences]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"start": 5.0, "text": "no end"}))
    lines.append(json.dumps({"start": 40.0, "end": 43.0, "text": "after the end of the audio"}))
    segments = tmp_path / "segments.jsonl"
    segments.write_text("\n".join(lines) + "\n")
    build(instance, layout, "c", BookSource("audiobook", str(librivox_book.audio), str(segments)))
    rows = manifest(layout, "c")
    assert [r["text"] for r in rows] == [s["text"] for s in librivox_book.sentences]
    rejected = {(r["reason"], r["line"]) for r in read_jsonl(layout.rejections("c"))}
    assert rejected == {("malformed_line", 3), ("malformed_line", 5), ("beyond_audio_end", None)}

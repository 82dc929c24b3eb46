"""The dataset build materialized through Dagster, asserted on content."""

import json
import os

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tts_assets.atomic import atomic_path
from tts_assets.dataset import book as book_stages
from tts_assets.dataset.voice import assemble_voice_dataset
from tts_assets.defs.launch import build_book_and_dataset
from tts_assets.errors import UnreadableAudioError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, remove_unreferenced, temporary_files
from tts_assets.settings import DatasetSettings
from tts_assets.dataset.sources import BookSource, read_source, register_book

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


def spread_words(start, end, text):
    """Word times for a segments JSONL: the text's words side by side from `start` to `end`."""
    names = text.split()
    step = (end - start) / len(names)
    return [{"word": f" {w}", "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3)}
            for i, w in enumerate(names)]


def test_a_segment_split_past_the_end_of_the_audio_is_rejected_whole(instance, data_root, librivox_book, tmp_path):
    """The last sentence's segment runs on 7 s past the end of the audio (a transcript of a longer
    edition): it is split at the pause, and its in-audio half must not be kept alone."""
    layout = DataLayout(data_root)
    *first, last = librivox_book.sentences
    words = spread_words(last["start"], last["end"], last["text"]) + spread_words(31.0, 36.0, "and so on to the end")
    lines = [*first, {"start": last["start"], "end": 36.0, "text": last["text"] + " and so on to the end", "words": words}]
    segments = tmp_path / "segments.jsonl"
    segments.write_text("".join(json.dumps(line) + "\n" for line in lines))
    book, book_run, dataset_run = build(instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)))
    assert book_run.success and check_results(dataset_run)["accounting_identity"]
    rows = manifest(layout, "v")
    assert [r["text"] for r in rows] == [s["text"] for s in first]
    rejected = [(r["reason"], r["segment_ids"]) for r in read_jsonl(layout.rejections("v"))]
    assert rejected == [("beyond_audio_end", [f"{book}:L000005"])]
    wavs = {p.relative_to(layout.dataset_dir("v")).as_posix() for p in layout.wavs_dir("v", book).iterdir()}
    assert wavs == {r["audio_file"] for r in rows}  # the kept half's clip is gone too


def test_summaries_count_rejected_segments_not_rows(instance, data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    past_end = [{"start": 31.0, "end": 32.0, "text": "two short"}, {"start": 32.2, "end": 34.5, "text": "merged ones"}]
    segments = tmp_path / "segments.jsonl"
    segments.write_text("".join(json.dumps(s) + "\n" for s in [*librivox_book.sentences, *past_end]))
    book, book_run, dataset_run = build(instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)))
    assert book_run.success and check_results(dataset_run)["accounting_identity"]
    [rejection] = read_jsonl(layout.rejections("v"))  # one clip, past the end, of two segments
    assert rejection["reason"] == "beyond_audio_end" and len(rejection["segment_ids"]) == 2
    for summary in (json.loads(layout.book_summary("v", book).read_text()), json.loads(layout.dataset_summary("v").read_text())):
        assert (summary["segments_accepted"], summary["segments_rejected"], summary["segments_total"]) == (5, 2, 7)


def test_word_times_are_numbers_and_a_bad_word_rejects_only_its_line(instance, data_root, librivox_book, tmp_path):
    layout = DataLayout(data_root)
    lines = [dict(s) for s in librivox_book.sentences]
    second = lines[1]
    second["words"] = [{**w, "start": str(w["start"]), "end": str(w["end"])}  # numeric strings are fine
                       for w in spread_words(second["start"], second["end"], second["text"])]
    lines.append({"start": 40.0, "end": 42.0, "text": "no time", "words": [{"word": " no", "start": None, "end": 41.0}]})
    lines.append({"start": 40.0, "end": 42.0, "text": "back", "words": [{"word": " back", "start": 41.5, "end": 40.5}]})
    segments = tmp_path / "segments.jsonl"
    segments.write_text("".join(json.dumps(line) + "\n" for line in lines))
    _, book_run, dataset_run = build(instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)))
    assert book_run.success and check_results(dataset_run)["accounting_identity"]
    assert [r["text"] for r in manifest(layout, "v")] == [s["text"] for s in librivox_book.sentences]
    rejected = {r["line"]: (r["reason"], r["detail"]) for r in read_jsonl(layout.rejections("v"))}
    assert rejected.keys() == {6, 7} and {reason for reason, _ in rejected.values()} == {"malformed_line"}
    assert rejected[6][1].endswith("segments.jsonl:6: bad field: word ' no': start None is not a number")
    assert rejected[7][1].endswith("segments.jsonl:7: bad field: word ' back' ends at 40.5 before it starts at 41.5")


def test_a_book_rebuilt_after_a_decode_failure_is_back_in_the_dataset(data_root, librivox_book, tmp_path):
    """Re-running the failed stage alone (Dagster's re-execution from failure) clears the failure."""
    layout = DataLayout(data_root)
    audio = tmp_path / "book.flac"
    audio.write_bytes(librivox_book.audio.read_bytes())
    segments = librivox_book.write_segments(tmp_path / "segments.jsonl")
    book = register_book(layout, "v", BookSource("audiobook", str(audio), str(segments)))
    settings = DatasetSettings()
    book_stages.probe_book(layout, "v", book)
    book_stages.transcribe_book(layout, "v", book, settings)
    book_stages.plan_book(layout, "v", book, settings)
    good = audio.read_bytes()
    audio.write_bytes(b"")  # the file went away while the clips were cut (e.g. a network share)
    with pytest.raises(UnreadableAudioError) as failed:
        book_stages.cut_book(layout, "v", book, settings.clips, settings.merge)
    book_stages.record_failure(layout, "v", book, failed.value)  # as the Dagster asset does
    assert assemble_voice_dataset(layout, "v")["rejections_by_reason"] == {"unreadable_audio": 1}

    audio.write_bytes(good)
    book_stages.cut_book(layout, "v", book, settings.clips, settings.merge)
    summary = assemble_voice_dataset(layout, "v")
    assert summary["clips"] == len(librivox_book.sentences) and summary["rejections_by_reason"] == {}


def test_a_setup_error_fails_the_run_and_keeps_the_books_clips(instance, data_root, librivox_book, tmp_path):
    """A missing ASR model is not the book's fault: it is not recorded as its unreadable audio."""
    layout = DataLayout(data_root)
    segments = librivox_book.write_segments(tmp_path / "segments.jsonl")
    build(instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), str(segments)), "one")
    first = manifest(layout, "v")
    missing = tmp_path / "no_such_model"
    _, book_run, dataset_run = build(
        instance, layout, "v", BookSource("audiobook", str(librivox_book.audio), asr_model=str(missing)), "one"
    )
    assert not book_run.success and dataset_run.success
    failure = book_run.get_step_failure_events()[0].step_failure_data.error.message
    assert f"model '{missing}': no such folder" in failure
    assert not layout.book_failure("v", "one").exists()
    assert manifest(layout, "v") == first and list(read_jsonl(layout.rejections("v"))) == []
    assert check_results(dataset_run)["accounting_identity"]


def test_cleanup_spares_another_runs_write_in_progress_not_a_killed_runs_leftover(tmp_path):
    folder = tmp_path / "wavs"
    folder.mkdir()
    kept, stale = folder / "kept.wav", folder / "stale.wav"
    kept.write_bytes(b"kept")
    stale.write_bytes(b"stale")
    leftover = folder / ".old.wav.x1y2z3.tmp"
    leftover.write_bytes(b"half a clip")  # a run killed mid-write (see test_kill_rerun)
    leftovers = temporary_files(folder)  # taken before this run writes
    with atomic_path(folder / "new.wav") as tmp:  # another run, writing as this one cleans up
        tmp.write_bytes(b"new")
        remove_unreferenced(folder, {kept}, leftovers)
        assert tmp.is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["kept.wav", "new.wav"]


def test_a_relative_asr_model_folder_is_found_from_another_folder(data_root, librivox_book, whisper_tiny, tmp_path, monkeypatch):
    layout = DataLayout(data_root)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(whisper_tiny)
    source = BookSource("audiobook", str(librivox_book.audio), asr_model=relative, language="en")
    book = register_book(layout, "v", source)
    named = register_book(layout, "v", BookSource("audiobook", str(librivox_book.audio), asr_model="tiny"), "named")
    assert read_source(layout, "v", named).asr_model == "tiny"
    monkeypatch.chdir(tmp_path / "elsewhere")  # e.g. the Dagster daemon's folder
    book_stages.probe_book(layout, "v", book)
    result = book_stages.transcribe_book(layout, "v", book, DatasetSettings())
    assert result["segments"] >= len(librivox_book.sentences) - 1

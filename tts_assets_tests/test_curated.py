"""Option B: a folder of curated clips and a transcripts JSONL, with every kind of bad line."""

import json
import os

import dagster as dg
import pytest
import soundfile as sf

from tts_assets.dataset.book import probe_book
from tts_assets.defs.launch import build_book_and_dataset
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.dataset.sources import BookSource, register_book

from .conftest import LIBRIVOX, LIBRIVOX_IDS, librivox_transcripts


@pytest.fixture
def curated(tmp_path, librivox_book):
    """Real LibriVox clips (16 kHz) in a folder, and a transcripts file with one line of each fault."""
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    for clip_id in LIBRIVOX_IDS[:3]:
        (folder / "sub" / f"{clip_id}.wav").write_bytes(
            (LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav").read_bytes()
        )
    (folder / "noise.wav").write_text("not audio")
    outside = tmp_path / "outside.wav"
    outside.write_bytes((folder / "sub" / "0870.wav").read_bytes())
    os.symlink(outside, folder / "escape.wav")
    texts = [s["text"] for s in librivox_book.sentences]
    lines = [
        json.dumps({"audio_file": "sub/0870.wav", "text": texts[0]}),  # 1 ok
        json.dumps({"audio_file": "sub/0880.wav", "text": texts[1]}),  # 2 ok
        "{broken json",  # 3
        json.dumps({"audio_file": "../outside.wav", "text": "x"}),  # 4
        json.dumps({"audio_file": str(outside), "text": "x"}),  # 5 absolute
        json.dumps({"audio_file": "escape.wav", "text": "x"}),  # 6 symlink escape
        json.dumps({"audio_file": "sub/missing.wav", "text": "x"}),  # 7
        json.dumps({"audio_file": "sub/0890.wav", "text": "   "}),  # 8 empty text
        json.dumps({"audio_file": "noise.wav", "text": "x"}),  # 9 unreadable
        "",
        json.dumps({"text": "no file"}),  # 11
        json.dumps({"audio_file": "sub/0890.wav", "text": texts[2]}),  # 12 ok
    ]
    transcripts = tmp_path / "transcripts.jsonl"
    transcripts.write_text("\n".join(lines) + "\n")
    return folder, transcripts, texts


def test_curated_clips_built_and_each_bad_line_rejected(curated, data_root, dagster_home):
    folder, transcripts, texts = curated
    layout = DataLayout(data_root)
    book = register_book(layout, "anna", BookSource("curated", str(folder), transcripts_jsonl=str(transcripts)))
    with dg.DagsterInstance.get() as instance:
        book_run, dataset_run = build_book_and_dataset(instance, "anna", book)
    assert book_run.success and dataset_run.success

    rows = list(read_jsonl(layout.train_manifest("anna")))
    assert [r["text"] for r in rows] == [texts[0], texts[1], texts[2]]
    for row, clip_id in zip(rows, ["0870", "0880", "0890"]):
        assert row["start"] is None and row["end"] is None
        assert row["source"].endswith(f"sub/{clip_id}.wav")
        info = sf.info(layout.dataset_dir("anna") / row["audio_file"])
        original = sf.info(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav")
        assert info.samplerate == 24000 and info.duration == pytest.approx(original.duration, abs=0.01)

    rejected = {r["line"]: r["reason"] for r in read_jsonl(layout.rejections("anna"))}
    assert rejected == {
        3: "malformed_line",
        4: "path_outside_input",
        5: "path_outside_input",
        6: "path_outside_input",
        7: "missing_file",
        8: "empty_text",
        9: "unreadable_audio",
        11: "malformed_line",
    }
    summary = json.loads(layout.dataset_summary("anna").read_text())
    assert (summary["segments_accepted"], summary["segments_rejected"], summary["segments_total"]) == (3, 8, 11)


def librivox_clips(folder, clip_ids):
    """Real LibriVox clips copied into `folder`, with their transcripts."""
    texts = librivox_transcripts()
    for clip_id in clip_ids:
        (folder / f"{clip_id}.wav").write_bytes((LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav").read_bytes())
    return [{"audio_file": f"{clip_id}.wav", "text": texts[clip_id]} for clip_id in clip_ids]


def test_unusable_file_names_reject_their_line_only(tmp_path, data_root, dagster_home):
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = librivox_clips(folder, ["0870", "0880"])
    lines += [{"audio_file": "a\u0000.wav", "text": "x"}, {"audio_file": "x" * 300 + ".wav", "text": "x"}]
    transcripts = tmp_path / "transcripts.jsonl"
    transcripts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("curated", str(folder), transcripts_jsonl=str(transcripts)))
    with dg.DagsterInstance.get() as instance:
        book_run, dataset_run = build_book_and_dataset(instance, "v", book)
    assert book_run.success and dataset_run.success
    assert [r["text"] for r in read_jsonl(layout.train_manifest("v"))] == [lines[0]["text"], lines[1]["text"]]
    rejected = {r["line"]: (r["reason"], r["detail"]) for r in read_jsonl(layout.rejections("v"))}
    assert rejected[3] == ("malformed_line", f"{transcripts}:3: 'a\\x00.wav' is not a usable file name: embedded null byte")
    assert rejected[4][0] == "malformed_line" and "File name too long" in rejected[4][1]


def test_probe_counts_only_the_clips_the_transcripts_name(tmp_path, data_root):
    """The transcripts file and notes kept in the clips folder are not unreadable audio."""
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = librivox_clips(folder, ["0870", "0880"])
    transcripts = folder / "transcripts.jsonl"
    transcripts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "README.txt").write_text("read by Anna, 2019")
    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("curated", str(folder), transcripts_jsonl=str(transcripts)))
    result = probe_book(layout, "v", book)
    durations = [sf.info(folder / line["audio_file"]).duration for line in lines]
    assert (result["files"], result["unreadable_files"]) == (2, 0)
    assert result["duration"] == pytest.approx(sum(durations), abs=0.01)

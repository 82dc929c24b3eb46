"""`tts-assets` end to end in a subprocess, as a user runs it; runs land in $DAGSTER_HOME."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl

from .conftest import wer

CLI = [str(Path(sys.executable).parent / "tts-assets")]


def run_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=600)


def test_ingest_builds_a_dataset_and_records_the_runs(tmp_path, librivox_book, whisper_tiny, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("TTS_ASSETS_DATA_ROOT", raising=False)
    data_root = tmp_path / "d"
    result = run_cli(
        "ingest", str(librivox_book.audio), "Reader", "--asr-model", whisper_tiny, "--language", "en",
        "--data-root", str(data_root),
    )
    assert result.returncode == 0, result.stderr
    assert f"dataset: {data_root / 'datasets' / 'reader'}" in result.stdout
    assert "5 clips" in result.stdout and "5 accepted + 0 rejected = 5" in result.stdout
    assert "transcribed" in result.stderr  # progress while it works
    rows = list(read_jsonl(DataLayout(data_root).train_manifest("reader")))
    assert wer(librivox_book.text, " ".join(r["text"] for r in rows)) < 0.1

    assert (home / "dagster.yaml").is_file()
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["build_book", "build_voice_dataset"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert instance.get_dynamic_partitions("voice") == ["reader"]

    report = run_cli("report", "reader", "--data-root", str(data_root))
    assert report.returncode == 0 and "5 clips" in report.stdout


def test_data_root_from_the_environment(tmp_path, librivox_book, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    segments = tmp_path / "s.jsonl"
    librivox_book.write_segments(segments)
    result = run_cli(
        "ingest", str(librivox_book.audio), "v", "--segments-jsonl", str(segments),
        env_extra={"TTS_ASSETS_DATA_ROOT": str(tmp_path / "env_root")},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env_root" / "datasets" / "v" / "train_manifest.jsonl").is_file()


@pytest.mark.parametrize(
    "content, expected",
    [(None, "no such file"), (b"", "empty file (0 bytes)"), (b"garbage" * 100, "not a decodable audio file")],
)
def test_unusable_audio_exits_nonzero_with_one_line(tmp_path, monkeypatch, content, expected):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    audio = tmp_path / "book.m4b"
    if content is not None:
        audio.write_bytes(content)
    result = run_cli("ingest", str(audio), "v", "--data-root", str(tmp_path / "d"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tts-assets: ") and str(audio) in last and expected in last
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["align", "report", "convert-qwen3", "train-qwen3"])
def test_a_voice_name_with_nothing_to_key_exits_with_one_line(tmp_path, command):
    result = run_cli(command, "!!!", "--data-root", str(tmp_path / "d"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "tts-assets: voice '!!!' gives an empty key; use a name with letters or digits"


def test_a_missing_asr_model_is_named_when_the_book_fails(tmp_path, monkeypatch, librivox_book):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    missing = tmp_path / "no_such_model"
    result = run_cli("ingest", str(librivox_book.audio), "v", "--asr-model", str(missing),
                     "--data-root", str(tmp_path / "d"))
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and str(missing) in last and "see the run's logs" not in last


def test_an_unexpected_step_error_is_reported_by_its_cause():
    from tts_assets.defs.launch import failure_reason

    @dg.op
    def breaks():
        raise LookupError("Resource punkt_tab not found")

    @dg.job
    def broken():
        breaks()

    run = broken.execute_in_process(raise_on_error=False)
    assert failure_reason(run) == "LookupError: Resource punkt_tab not found"


def test_ingest_transcript(tmp_path, monkeypatch, librivox_book):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    from .conftest import LIBRIVOX

    lines = [
        json.dumps({"audio_file": f"sense_and_sensibility_01_austen_64kb-{i}.wav", "text": s["text"]})
        for i, s in zip(["0870", "0920"], [librivox_book.sentences[0], librivox_book.sentences[3]])
    ]
    transcripts = tmp_path / "t.jsonl"
    transcripts.write_text("\n".join(lines + ['{"audio_file": "../../etc/passwd", "text": "x"}']) + "\n")
    result = run_cli("ingest-transcript", str(LIBRIVOX), str(transcripts), "Anna", "--data-root", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert "2 clips" in result.stdout and "rejected path_outside_input: 1" in result.stdout


def test_align_command(tmp_path, monkeypatch, librivox_book):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    segments = tmp_path / "s.jsonl"
    librivox_book.write_segments(segments)
    data_root = str(tmp_path / "d")
    missing = run_cli("align", "nobody", "--data-root", data_root)
    assert missing.returncode == 2 and "run `tts-assets ingest` first" in missing.stderr
    assert run_cli("ingest", str(librivox_book.audio), "v", "--segments-jsonl", str(segments),
                   "--data-root", data_root).returncode == 0
    bad_settings = tmp_path / "settings.yaml"
    bad_settings.write_text("- not\n- a mapping\n")
    refused = run_cli("align", "v", "--data-root", data_root, env_extra={"TTS_ASSETS_SETTINGS": str(bad_settings)})
    last = refused.stderr.strip().splitlines()[-1]  # the cause, not Dagster's wrapper around it
    assert refused.returncode == 2 and f"{bad_settings}: invalid settings: a mapping of sections" in last
    result = run_cli("align", "v", "--data-root", data_root)
    assert result.returncode == 0, result.stderr
    assert "5 of 5 clips kept" in result.stdout and "aligner pocketsphinx" in result.stdout
    assert (tmp_path / "d" / "datasets" / "v" / "train_aligned.parquet").is_file()

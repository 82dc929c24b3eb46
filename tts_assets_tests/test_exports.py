"""Exports of a real aligned dataset (LibriVox speech, the XTTS tests' dataset), each read back by
its own library: coqui's `ljspeech` formatter, lhotse, and the audiofolder layout `datasets`
documents; atomic replacement; through Dagster and the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import soundfile as sf

from tts_assets.errors import UnreadableAudioError
from tts_assets.export import ExportError, export_voice
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, write_jsonl

pytest.register_assert_rewrite("tts_assets_tests.xtts_fixtures")  # it is also a plugin (below)
from .xtts_fixtures import VOICE  # noqa: E402

pytest_plugins = ["tts_assets_tests.xtts_fixtures"]


def aligned_by_split(layout):
    rows = list(read_jsonl(layout.aligned_manifest(VOICE)))
    by_split = {split: {Path(r["audio_file"]).stem: r for r in rows if r["split"] == split} for split in ("train", "val")}
    assert by_split["train"] and by_split["val"]  # the dataset has both splits, so each is checked
    return by_split


def assert_same_clip(path, row, layout):
    """The export's file is the aligned clip itself (hard-linked), as long as its row says."""
    assert os.path.samefile(path, layout.dataset_dir(VOICE) / row["audio_file"])
    info = sf.info(path)
    assert info.samplerate == row["sample_rate"] == 24000
    assert info.frames / info.samplerate == pytest.approx(row["duration"], abs=1e-3)


def test_ljspeech_export_read_by_coquis_formatter(xtts_data_root):
    from TTS.tts.datasets.formatters import ljspeech

    layout = DataLayout(xtts_data_root)
    # a written text unlike the spoken one, with the column separator in it
    rows_in = list(read_jsonl(layout.aligned_manifest(VOICE)))
    rows_in[0]["text_original"] = "Mr. Dashwood | said so."
    write_jsonl(layout.aligned_manifest(VOICE), rows_in)
    record = export_voice(layout, VOICE, "ljspeech", "en")

    folder = layout.export_dir(VOICE, "ljspeech")
    expected = aligned_by_split(layout)
    assert record["clips"] == {split: len(rows) for split, rows in expected.items()}
    assert record["linked"] == sum(record["clips"].values()) and record["copied"] == 0
    for split, rows in expected.items():
        samples = ljspeech(str(folder), f"metadata_{split}.csv")
        # the formatter takes the third column (the spoken text) and `wavs/<id>.wav`
        assert {Path(s["audio_file"]).stem: s["text"].strip() for s in samples} == {k: r["text"] for k, r in rows.items()}
        for sample in samples:
            assert_same_clip(sample["audio_file"], rows[Path(sample["audio_file"]).stem], layout)
        lines = (folder / f"metadata_{split}.csv").read_text().splitlines()
        assert {line.split("|")[0]: line.split("|")[1] for line in lines} == {
            k: " ".join(r["text_original"].replace("|", " ").split()) for k, r in rows.items()}
        assert all(line.count("|") == 2 for line in lines)
    assert f"{Path(rows_in[0]['audio_file']).stem}|Mr. Dashwood said so.|{rows_in[0]['text']}" in (
        folder / f"metadata_{rows_in[0]['split']}.csv").read_text().splitlines()


def test_hf_audiofolder_as_datasets_documents_it(xtts_data_root):
    """`datasets` cannot be installed beside the project's pins (it needs fsspec <= 2026.6.0 with
    huggingface_hub < 1.0; the lock has fsspec 2026.9.0 and whisperx needs hub < 1.0), so the
    folder is read as its audiofolder documentation says `load_dataset` reads it: split folders
    named `train`/`validation`, each with a `metadata.jsonl` whose `file_name` is relative to it."""
    layout = DataLayout(xtts_data_root)
    export_voice(layout, VOICE, "hf", "en")

    folder = layout.export_dir(VOICE, "hf")
    expected = aligned_by_split(layout)
    assert sorted(p.name for p in folder.iterdir()) == ["export.json", "train", "validation"]
    for split, name in (("train", "train"), ("val", "validation")):
        metadata = list(read_jsonl(folder / name / "metadata.jsonl"))
        assert sorted(p.name for p in (folder / name).iterdir()) == sorted(["metadata.jsonl", *(m["file_name"] for m in metadata)])
        assert {m["id"]: (m["text"], m["text_original"], m["duration"]) for m in metadata} == {
            k: (r["text"], " ".join(r["text_original"].split()), r["duration"]) for k, r in expected[split].items()}
        assert {m["speaker"] for m in metadata} == {VOICE} and {m["language"] for m in metadata} == {"en"}
        for m in metadata:
            assert_same_clip(folder / name / m["file_name"], expected[split][m["id"]], layout)


def test_lhotse_manifests_load_with_lhotse(xtts_data_root):
    from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest
    from lhotse.recipes.utils import read_manifests_if_cached

    layout = DataLayout(xtts_data_root)
    export_voice(layout, VOICE, "lhotse", "en")

    folder = layout.export_dir(VOICE, "lhotse")
    expected = aligned_by_split(layout)
    found = read_manifests_if_cached(dataset_parts=["train", "val"], output_dir=folder, prefix=VOICE, suffix="jsonl.gz")
    assert isinstance(found["train"]["recordings"], RecordingSet) and isinstance(found["val"]["supervisions"], SupervisionSet)
    for split, rows in expected.items():
        cuts = load_manifest(folder / f"{VOICE}_cuts_{split}.jsonl.gz")
        assert isinstance(cuts, CutSet) and sorted(cuts.ids) == sorted(rows)
        for cut in cuts:
            row = rows[cut.id]
            assert cut.recording_id == cut.id
            (supervision,) = cut.supervisions
            assert supervision.text == row["text"] and supervision.speaker == VOICE and supervision.language == "en"
            assert supervision.custom == {"text_original": " ".join(row["text_original"].split()), "book": row["book"]}
            words = supervision.alignment["word"]
            assert [w.symbol for w in words] == [w["word"] for w in row["words"]] == row["text"].split()
            assert [(w.start, w.end) for w in words] == [(w["start"], pytest.approx(w["end"], abs=1e-3)) for w in row["words"]]
            assert cut.sampling_rate == 24000 and cut.duration == pytest.approx(row["duration"], abs=1e-3)
            audio = cut.load_audio()
            assert audio.shape == (1, round(row["duration"] * 24000))
            source = Path(cut.recording.sources[0].source)
            assert source.is_absolute() and source.parent == folder / "wavs"
            assert_same_clip(source, row, layout)


def test_a_failed_export_leaves_the_last_one_whole(xtts_data_root, tmp_path):
    layout = DataLayout(xtts_data_root)
    # no aligned dataset: one line naming the file
    with pytest.raises(ExportError, match=r"datasets/nobody/train_aligned\.jsonl: no aligned dataset .*`tts-assets align nobody`"):
        export_voice(layout, "nobody", "ljspeech", "en")

    out = tmp_path / "out"
    first = export_voice(layout, VOICE, "ljspeech", "en", out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # one aligned clip damaged (replaced, as re-alignment replaces files): the export stops midway
    row = next(iter(aligned_by_split(layout)["val"].values()))
    clip = layout.dataset_dir(VOICE) / row["audio_file"]
    damaged = clip.with_name("damaged.wav")
    damaged.write_bytes(b"RIFF not a wav file")
    damaged.replace(clip)
    with pytest.raises(UnreadableAudioError, match=f"{clip}: cannot read audio"):
        export_voice(layout, VOICE, "lhotse", "en", out)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert json.loads((out / "export.json").read_text()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dagster_home", "data", "out"]  # no half folder beside

    # a folder that is not an export is never replaced
    keep = tmp_path / "photos"
    keep.mkdir()
    (keep / "a.jpg").write_bytes(b"jpg")
    with pytest.raises(ExportError, match="photos: exists and is not an export"):
        export_voice(layout, VOICE, "hf", "en", keep)
    assert [p.name for p in keep.iterdir()] == ["a.jpg"]


def test_exports_through_dagster_and_the_command(xtts_data_root, tmp_path):
    from tts_assets.defs.launch import failure_reason, run_voice_job

    layout = DataLayout(xtts_data_root)
    clips = sum(len(rows) for rows in aligned_by_split(layout).values())
    with dg.DagsterInstance.get() as instance:
        for fmt in ("ljspeech", "hf", "lhotse"):
            run = run_voice_job(instance, f"export_{fmt}", VOICE)
            assert run.success
            metadata = run.asset_materializations_for_node(f"{fmt}_export")[0].metadata
            assert metadata["folder"].value == str(layout.export_dir(VOICE, fmt))
            assert metadata["train"].value + metadata["val"].value == metadata["linked"].value == clips
        failed = run_voice_job(instance, "export_hf", "nobody")
        assert not failed.success and "datasets/nobody/train_aligned.jsonl" in failure_reason(failed)

    command = [str(Path(sys.executable).parent / "tts-assets"), "export", VOICE, "--format", "ljspeech"]
    done = subprocess.run([*command, "--out", str(tmp_path / "ljs")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"ljspeech export: {tmp_path / 'ljs'}" in done.stdout and f"audio {clips} hard-linked" in done.stdout
    assert len((tmp_path / "ljs" / "metadata_train.csv").read_text().splitlines()) == metadata["train"].value
    refused = subprocess.run([*command[:2], "nobody", "--format", "hf"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "tts-assets align nobody" in refused.stderr

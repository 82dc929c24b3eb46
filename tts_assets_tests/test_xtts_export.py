"""The coqui export of a real aligned dataset: 22.05 kHz clips, the train/val split, and the clips
coqui would silently swap (too short, too long, too many tokens) rejected with their reasons."""

import json

import dagster as dg
import numpy as np
import pytest
import soundfile as sf

from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.xtts import paths
from tts_assets.xtts.config import XttsVoiceConfig
from tts_assets.xtts.export import TokenCounter, export_xtts_dataset, metadata_csv

pytest.register_assert_rewrite("tts_assets_tests.xtts_fixtures")  # it is also a plugin (below)
from .xtts_fixtures import VOICE, write_voice_config  # noqa: E402

pytest_plugins = ["tts_assets_tests.xtts_fixtures"]


def coqui_samples(layout, language="en"):
    """The export as coqui's own loader reads it (formatter `coqui`, the train and eval files)."""
    from TTS.config.shared_configs import BaseDatasetConfig
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.datasets import load_tts_samples

    config = XttsConfig(datasets=[BaseDatasetConfig(
        formatter="coqui", path=str(paths.export_dir(layout, VOICE)), meta_file_train="metadata_train.csv",
        meta_file_val="metadata_eval.csv", language=language)])
    return load_tts_samples(config, eval_split=True)


def test_export_of_a_real_dataset(xtts_data_root, tiny_xtts_base, tmp_path):
    layout = DataLayout(xtts_data_root)
    aligned = list(read_jsonl(layout.aligned_manifest(VOICE)))
    counter = TokenCounter(tiny_xtts_base / "vocab.json", "en")
    tokens = {r["audio_file"]: len(counter.encode(r["text"])) for r in aligned}
    in_bounds = [r for r in aligned if 0.5 <= r["duration"] <= 255995 / 22050]
    wordiest = max(in_bounds, key=lambda r: tokens[r["audio_file"]])
    limit = tokens[wordiest["audio_file"]] - 1
    # the real XTTS-v2 limits (no gpt section: the export does not need the checkpoint's shape)
    config = XttsVoiceConfig.load(write_voice_config(
        tmp_path / "reader_xtts.yaml", tiny_xtts_base, gpt=None, export={"max_samples": 255995, "max_text_tokens": limit}))

    summary = export_xtts_dataset(layout, config)

    short = next(r for r in aligned if r["duration"] < 0.5)
    long = next(r for r in aligned if r["duration"] > 11.61)
    rejected = {r["audio_file"]: r for r in read_jsonl(paths.export_rejections(layout, VOICE))}
    assert {k: v["reason"] for k, v in rejected.items()} == {
        short["audio_file"]: "too_short", long["audio_file"]: "too_long", wordiest["audio_file"]: "too_many_tokens"}
    assert "< 0.5 s" in rejected[short["audio_file"]]["detail"]
    assert "> 255995" in rejected[long["audio_file"]]["detail"]
    assert rejected[wordiest["audio_file"]]["detail"] == f"{limit + 1} text tokens > {limit}"
    assert summary["rejections_by_reason"] == {"too_short": 1, "too_long": 1, "too_many_tokens": 1}

    exported = list(read_jsonl(paths.export_manifest(layout, VOICE)))
    by_source = {r["audio_file"]: r for r in aligned}
    assert sorted(r["source_clip"] for r in exported) == sorted(set(by_source) - set(rejected))
    for row in exported:
        source = by_source[row["source_clip"]]
        audio, rate = sf.read(paths.export_dir(layout, VOICE) / row["audio_file"], dtype="float32")
        original, original_rate = sf.read(layout.dataset_dir(VOICE) / source["audio_file"], dtype="float32")
        assert rate == 22050 and original_rate == 24000 and audio.ndim == 1
        assert sf.info(paths.export_dir(layout, VOICE) / row["audio_file"]).subtype == "PCM_16"
        assert abs(len(audio) - len(original) * 22050 / 24000) <= 1 and len(audio) == row["samples"]
        assert np.sqrt(np.mean(audio**2)) / np.sqrt(np.mean(original**2)) == pytest.approx(1, abs=0.02)
        assert row["split"] == {"train": "train", "val": "eval"}[source["split"]]
        assert row["text"] == source["text"] and row["tokens"] == tokens[source["audio_file"]] <= limit

    # coqui's own reader sees exactly the exported clips, split as aligned, spoken by the voice
    train, evaluation = coqui_samples(layout)
    for split, samples in (("train", train), ("eval", evaluation)):
        expected = {(str(paths.export_dir(layout, VOICE) / r["audio_file"]), r["text"]) for r in exported if r["split"] == split}
        assert {(s["audio_file"], s["text"]) for s in samples} == expected and expected
        assert {s["speaker_name"] for s in samples} == {VOICE}

    # a stricter limit re-exports: the newly rejected clip's file is gone
    config.export.max_text_tokens = min(r["tokens"] for r in exported) - 1
    again = export_xtts_dataset(layout, config)
    assert again["train"] + again["eval"] == 0 and again["rejected"] == len(aligned)
    assert not list((paths.export_dir(layout, VOICE) / "wavs").rglob("*.wav"))


def test_metadata_survives_coqui_csv_reader(tmp_path):
    from TTS.tts.datasets.formatters import coqui

    texts = ['"Quoted," he said.', 'a | pipe and "inner" quotes', "plain text, with a comma"]
    rows = [{"audio_file": f"wavs/{i}.wav", "text": t} for i, t in enumerate(texts)]
    (tmp_path / "wavs").mkdir()
    for row in rows:
        sf.write(tmp_path / row["audio_file"], np.zeros(22050, dtype=np.float32), 22050)
    (tmp_path / "metadata_train.csv").write_text(metadata_csv(rows, "v"))
    assert [item["text"] for item in coqui(str(tmp_path), "metadata_train.csv")] == texts


def test_unknown_characters_are_rejected(tiny_xtts_base):
    counter = TokenCounter(tiny_xtts_base / "vocab.json", "en")
    assert counter.unknown("plain words") == []
    assert counter.unknown("snow ☃ man") == ["☃"]


def test_export_through_dagster_with_checks(xtts_data_root, tiny_xtts_base, tmp_path):
    from tts_assets.defs.launch import failure_reason, run_voice_job

    def run_xtts_job(instance, job, voice, config):
        return run_voice_job(instance, job, voice, asset_config={"xtts_export": {"config_file": str(config)}})

    layout = DataLayout(xtts_data_root)
    config = write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base)
    with dg.DagsterInstance.get() as instance:
        run = run_xtts_job(instance, "export_xtts", VOICE, config)
        assert run.success
        assert {e.asset_check_key.name: e.passed for e in run.get_asset_check_evaluations()} == {
            "xtts_export_accounting": True, "xtts_export_clips_valid": True}
        metadata = run.asset_materializations_for_node("xtts_export")[0].metadata
        summary = json.loads(paths.export_summary(layout, VOICE).read_text())
        assert metadata["train"].value == summary["train"] == 2 and metadata["eval"].value == summary["eval"] == 2
        assert summary["rejections_by_reason"] == {"too_short": 1, "too_long": 1}  # 6.8 s limit of the tiny GPT

        # another voice without an aligned dataset fails with one line naming the missing file
        other = write_voice_config(tmp_path / "nobody_xtts.yaml", tiny_xtts_base, voice="nobody")
        failed = run_xtts_job(instance, "export_xtts", "nobody", other)
        assert not failed.success
        reason = failure_reason(failed)
        assert "datasets/nobody/train_aligned.jsonl" in reason and "tts-assets align nobody" in reason
        assert "\n" not in reason

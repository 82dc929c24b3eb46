"""The documented settings files show exactly the defaults, and bad settings get clear errors."""

from pathlib import Path

import pytest

from tts_assets.errors import InputFileError
from tts_assets.layout import resolve_data_root
from tts_assets.settings import Qwen3Settings
from tts_assets.settings import DatasetSettings

CONFIGS = Path(__file__).parent.parent / "configs"


def test_documented_dataset_settings_are_the_defaults():
    assert DatasetSettings.load(CONFIGS / "dataset.yaml").describe() == DatasetSettings().describe()


def test_documented_qwen3_settings_are_the_defaults():
    assert Qwen3Settings.load(CONFIGS / "qwen3.yaml") == Qwen3Settings()


def test_unknown_setting_names_the_file(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("dataset:\n  merge:\n    max_clip: 12\n")
    with pytest.raises(InputFileError, match=r"s\.yaml: invalid settings: unknown merge setting"):
        DatasetSettings.load(bad)


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "a mapping of sections is expected, not a list"),
    ("dataset:\n  quality:\n    val_fraction: 7\n", "val_fraction"),
    ("dataset:\n  quality:\n    min_chars_per_s: 40\n", "min_chars_per_s .40.0. must be below max_chars_per_s"),
    ("qwen3: 5\n", None),
])
def test_settings_that_cannot_work_are_refused_naming_the_file(tmp_path, text, message):
    bad = tmp_path / "s.yaml"
    bad.write_text(text)
    kind = Qwen3Settings if text.startswith("qwen3") else DatasetSettings
    with pytest.raises(InputFileError, match=r"s\.yaml: .*" + (message or "")):
        kind.load(bad)


def test_data_root_flag_beats_environment_beats_default(monkeypatch, tmp_path):
    monkeypatch.delenv("TTS_ASSETS_DATA_ROOT", raising=False)
    assert resolve_data_root() == Path("data").resolve()
    monkeypatch.setenv("TTS_ASSETS_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(tmp_path / "flag") == tmp_path / "flag"


@pytest.mark.parametrize(
    "file, section, kind",
    [("qwen3.yaml", "qwen3", "tts_assets.settings.Qwen3Settings"),
     ("serve.yaml", "serve", "tts_assets.settings.ServeSettings"),
     ("evaluation.yaml", "evaluation", "tts_assets.settings.EvaluationSettings"),
     ("review.yaml", "review", "tts_assets.settings.ReviewSettings")],
)
def test_each_settings_file_documents_every_field_with_its_default(file, section, kind):
    import importlib

    import yaml

    module, name = kind.rsplit(".", 1)
    settings_class = getattr(importlib.import_module(module), name)
    documented = yaml.safe_load((CONFIGS / file).read_text())[section]
    assert set(documented) == set(settings_class.model_fields)
    assert settings_class.load(CONFIGS / file) == settings_class()


def test_the_resources_settings_file_reaches_every_section(tmp_path, monkeypatch):
    from tts_assets.defs.resources import TtsAssetsResource

    monkeypatch.delenv("TTS_ASSETS_SETTINGS", raising=False)
    path = tmp_path / "s.yaml"
    path.write_text("dataset:\n  clips:\n    sample_rate: 16000\nqwen3:\n  epochs: 3\nserve:\n  max_queue: 2\n"
                    "evaluation:\n  max_sentences: 1\n")
    settings = TtsAssetsResource(settings_file=str(path)).settings()
    assert (settings.dataset.clips.sample_rate, settings.qwen3.epochs, settings.serve.max_queue,
            settings.evaluation.max_sentences) == (16000, 3, 2, 1)
    path.write_text("xtts:\n  epochs: 3\n")
    with pytest.raises(InputFileError, match=r"s\.yaml: invalid settings: unknown section 'xtts' .*; known: dataset, evaluation, qwen3, review, serve"):
        TtsAssetsResource(settings_file=str(path)).settings()

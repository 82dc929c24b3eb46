"""The voice config is validated before any work: every field documented, missing base files named
with where they come from, GPT settings that do not fit the checkpoint reported as settings."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from tts_assets.layout import DataLayout
from tts_assets.xtts.base_model import check_base_model
from tts_assets.xtts.config import DEFAULT_OPTIMIZER_STEPS, MIN_OPTIMIZER_STEPS, XttsVoiceConfig
from tts_assets.xtts.plan import plan_training, steps_per_epoch
from tts_assets.xtts.errors import XttsConfigError
from tts_assets.cli import train_xtts

pytest.register_assert_rewrite("tts_assets_tests.xtts_fixtures")  # it is also a plugin (below)
from .xtts_fixtures import TINY_GPT, write_voice_config  # noqa: E402

pytest_plugins = ["tts_assets_tests.xtts_fixtures"]

EXAMPLE = Path(__file__).parent.parent / "configs" / "tts" / "example_xtts.yaml"


def base_copy(tiny_xtts_base: Path, folder: Path) -> Path:
    """The tiny base files, hard-linked (unlink a file before changing it: the inode is shared)."""
    shutil.copytree(tiny_xtts_base, folder, copy_function=os.link)
    return folder


def _fields(model_class, prefix=""):
    names = set()
    for name, info in model_class.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            names |= _fields(annotation, f"{prefix}{name}.")
        else:
            names.add(f"{prefix}{name}")
    return names


def _keys(data, prefix=""):
    names = set()
    for key, value in data.items():
        if isinstance(value, dict):
            names |= _keys(value, f"{prefix}{key}.")
        else:
            names.add(f"{prefix}{key}")
    return names


def test_example_documents_every_field_with_its_default():
    data = yaml.safe_load(EXAMPLE.read_text())
    assert _keys(data) == _fields(XttsVoiceConfig)
    config = XttsVoiceConfig.load(EXAMPLE)
    defaults = XttsVoiceConfig(voice="example")
    assert config.model_dump() == defaults.model_dump()
    # the recipe's advice is the default: fp32, lr 5e-6, batch 3 x accumulation 84 = 252
    assert not config.training.mixed_precision and config.training.lr == 5e-6
    assert config.training.effective_batch == 252 and config.effective_batch_warning() is None
    assert config.mixed_precision_warning() is None
    # a run is sized in optimizer steps; epochs are derived unless set
    assert config.training.steps == DEFAULT_OPTIMIZER_STEPS == 1000 and config.training.epochs is None


def test_warnings_for_small_batches_and_mixed_precision(tmp_path, tiny_xtts_base):
    config = XttsVoiceConfig.load(write_voice_config(
        tmp_path / "v.yaml", tiny_xtts_base, training={"batch_size": 4, "grad_accum_steps": 8, "mixed_precision": True}))
    assert "4 x training.grad_accum_steps 8 = 32 < 252" in config.effective_batch_warning()
    assert "NaN" in config.mixed_precision_warning() and "#3988" in config.mixed_precision_warning()


def coqui_optimizer_steps(clips: int, batch_size: int, grad_accum_steps: int) -> int:
    """Optimizer steps of one epoch by coqui's own rule (Trainer.train_step: after every
    grad_accum_steps batches and after an epoch's last batch; GPTTrainer's loader keeps the last,
    short batch)."""
    batches = len(range(0, clips, batch_size))
    return sum(1 for step in range(batches) if (step + 1) % grad_accum_steps == 0 or step + 1 == batches)


@pytest.mark.parametrize("clips, batches, per_epoch, epochs, total", [
    (2000, 667, 8, 125, 1000),  # the 2,000 clips: 80 steps at the old 10 epochs
    (13100 - 131, 4323, 52, 20, 1040),  # LJSpeech as upstream's recipe splits it
    (252, 84, 1, 1000, 1000),  # one effective batch
    (253, 85, 2, 500, 1000),  # + one clip: a partial group of one batch is a step of its own
    (100, 34, 1, 1000, 1000),  # smaller than one effective batch: a step an epoch
    (1, 1, 1, 1000, 1000),
])
def test_epochs_come_from_the_optimizer_steps_for_the_dataset_size(clips, batches, per_epoch, epochs, total):
    training = XttsVoiceConfig(voice="v").training  # the defaults: 1000 steps at 3 x 84
    plan = plan_training(training, clips, eval_clips=5)
    assert (plan.batches_per_epoch, plan.steps_per_epoch, plan.epochs, plan.total_steps) == (
        batches, per_epoch, epochs, total)
    assert per_epoch == coqui_optimizer_steps(clips, 3, 84)
    assert plan.effective_batch == 252 and plan.target_steps == 1000 and plan.epochs_from == "training.steps"
    assert plan.total_steps >= 1000 and (plan.epochs - 1) * per_epoch < 1000  # the fewest whole epochs
    assert plan.warnings() == [] and plan.evaluate
    assert plan.describe() == (
        f"{clips} training clips, batch 3 x accumulation 84 = effective batch 252; {batches} batches = "
        f"{per_epoch} optimizer steps per epoch; {epochs} epochs from training.steps 1000 = {total} optimizer "
        "steps in total; evaluating on 5 validation clips after every epoch")


def test_steps_per_epoch_count_as_coquis_trainer_does():
    for clips in range(1, 60):
        for batch_size in (1, 2, 3, 7):
            for accumulation in (1, 2, 3, 5, 84):
                assert steps_per_epoch(clips, batch_size, accumulation)[1] == coqui_optimizer_steps(
                    clips, batch_size, accumulation), (clips, batch_size, accumulation)


def test_epochs_set_win_and_too_few_steps_warn():
    training = XttsVoiceConfig(voice="v", training={"epochs": 10}).training
    plan = plan_training(training, 2000, eval_clips=20)
    assert (plan.epochs, plan.total_steps, plan.target_steps, plan.epochs_from) == (10, 80, None, "training.epochs")
    assert "10 epochs from training.epochs (training.steps is not used when training.epochs is set) = 80" in plan.describe()
    (warning,) = plan.warnings()
    assert warning.startswith(f"80 optimizer steps in total (10 epochs x 8 of 252 clips) is below the minimum of "
                              f"{MIN_OPTIMIZER_STEPS}")
    assert "raise training.epochs, or remove it to train training.steps (1000 by default)" in warning
    # a step target below the minimum warns too; at the minimum it does not
    low = plan_training(XttsVoiceConfig(voice="v", training={"steps": MIN_OPTIMIZER_STEPS - 1}).training, 2000, 20)
    assert low.total_steps == 256 and low.warnings() == []  # whole epochs: 32 x 8 reach the minimum
    low = plan_training(XttsVoiceConfig(voice="v", training={"steps": 100}).training, 2000, 20)
    assert low.total_steps == 104 and "raise training.steps" in low.steps_warning()
    assert MIN_OPTIMIZER_STEPS < DEFAULT_OPTIMIZER_STEPS


def test_no_validation_clips_means_no_evaluation_with_a_warning():
    training = XttsVoiceConfig(voice="v").training
    plan = plan_training(training, 400, eval_clips=0)
    assert not plan.evaluate and plan.evaluation.startswith("no validation clips (metadata_eval.csv is empty): "
                                                            "training without evaluation")
    assert plan.warnings() == [plan.evaluation] and "quality.val_fraction" in plan.evaluation
    off = plan_training(training.model_copy(update={"run_eval": False}), 400, eval_clips=10)
    assert not off.evaluate and off.warnings() == [] and off.evaluation == "no evaluation (training.run_eval is false)"
    with pytest.raises(ValueError):
        plan_training(training, 0)


def test_missing_base_files_are_named_with_their_source(tmp_path, tiny_xtts_base):
    partial = base_copy(tiny_xtts_base, tmp_path / "base")
    (partial / "dvae.pth").unlink()
    (partial / "mel_stats.pth").unlink()
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", partial))
    with pytest.raises(XttsConfigError) as error:
        check_base_model(config, DataLayout(tmp_path / "data"))
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'reader_xtts.yaml'}: missing base_model.dvae {partial / 'dvae.pth'}")
    assert f"base_model.mel_stats {partial / 'mel_stats.pth'}" in message
    assert "XTTS-v2 model repository (https://huggingface.co/coqui/XTTS-v2)" in message and "\n" not in message


def test_default_base_folder_is_under_the_data_root(tmp_path, tiny_xtts_base):
    path = write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base, base_model=None)
    config = XttsVoiceConfig.load(path)
    with pytest.raises(XttsConfigError, match=r"download model.pth, dvae.pth, mel_stats.pth, vocab.json from"):
        config.check_files(DataLayout(tmp_path / "data"))
    assert config.files(DataLayout(tmp_path / "data")).model == tmp_path / "data/base_models/xtts_v2/model.pth"
    relative = write_voice_config(tmp_path / "cfg" / "reader_xtts.yaml", Path("../base"))
    assert XttsVoiceConfig.load(relative).files(DataLayout(tmp_path)).vocab == tmp_path / "base" / "vocab.json"


@pytest.mark.parametrize(("gpt", "expected"), [
    ({"layers": 3}, "gpt.layers 3 (checkpoint: 2)"),
    ({"model_channels": 128, "heads": 4}, "gpt.model_channels 128 (checkpoint: 64)"),
    ({"max_audio_tokens": 300}, "gpt.max_audio_tokens 300 (checkpoint: 150)"),
    ({"heads": 8}, "gpt.heads 8 (checkpoint: 4)"),  # no shape shows it: the checkpoint's saved config does
    ({}, None),
])
def test_gpt_settings_are_checked_against_the_checkpoint(tmp_path, tiny_xtts_base, gpt, expected):
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base, gpt=gpt))
    if expected is None:
        check_base_model(config, DataLayout(tmp_path / "data"))
        return
    with pytest.raises(XttsConfigError) as error:
        check_base_model(config, DataLayout(tmp_path / "data"))
    message = str(error.value)
    assert message.startswith(f"{tiny_xtts_base / 'model.pth'}: does not match the gpt settings of ")
    assert expected in message and "\n" not in message and "size mismatch" not in message


def test_a_vocab_from_another_model_is_caught(tmp_path, tiny_xtts_base):
    base = base_copy(tiny_xtts_base, tmp_path / "base")
    vocab = json.loads((base / "vocab.json").read_text())
    vocab["model"]["vocab"]["zzzextra"] = max(vocab["model"]["vocab"].values()) + 100
    (base / "vocab.json").unlink()
    (base / "vocab.json").write_text(json.dumps(vocab))
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", base))
    with pytest.raises(XttsConfigError, match=r"vocab.json has \d+ tokens \(checkpoint: \d+\): use the vocab.json"):
        check_base_model(config, DataLayout(tmp_path))


def test_a_dvae_of_another_codebook_is_caught(tmp_path, tiny_xtts_base):
    base = base_copy(tiny_xtts_base, tmp_path / "base")
    state = torch.load(base / "dvae.pth")
    state["codebook.embed"] = state["codebook.embed"][:, :512]
    (base / "dvae.pth").unlink()
    torch.save(state, base / "dvae.pth")
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", base))
    with pytest.raises(XttsConfigError, match=r"dvae.pth: does not fit a DVAE of gpt.num_audio_tokens 1026"):
        check_base_model(config, DataLayout(tmp_path))


@pytest.mark.parametrize(("sections", "expected"), [
    ({"training": {"lr": -1}}, "training.lr: Input should be greater than 0"),
    ({"training": {"learning_rate": 1e-5}}, "training.learning_rate: Extra inputs are not permitted"),
    ({"export": {"max_samples": 300000}, "gpt": {"max_audio_tokens": 150}},
     "export.max_samples 300000 gives 295 audio positions but gpt.max_audio_tokens is 150"),
    ({"export": {"min_seconds": 0.2}}, "export.min_seconds: Input should be greater than or equal to 0.5"),
    ({"voice": "Some Voice"}, "voice 'Some Voice' is not a voice key; use 'some_voice'"),
])
def test_invalid_settings_are_one_line(tmp_path, tiny_xtts_base, sections, expected):
    path = write_voice_config(tmp_path / "v.yaml", tiny_xtts_base, **sections)
    with pytest.raises(XttsConfigError) as error:
        XttsVoiceConfig.load(path)
    assert str(error.value).startswith(f"{path}: invalid config: ") and expected in str(error.value)
    assert "\n" not in str(error.value)


def test_a_language_the_vocab_lacks(tmp_path, tiny_xtts_base):
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "v.yaml", tiny_xtts_base, language="de"))
    with pytest.raises(XttsConfigError, match=r"language 'de': .*vocab.json has no \[de\] token"):
        config.check_files(DataLayout(tmp_path))


def test_train_command_fails_before_any_work(tmp_path, tiny_xtts_base, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    partial = base_copy(tiny_xtts_base, tmp_path / "base")
    (partial / "dvae.pth").unlink()
    config = write_voice_config(tmp_path / "reader_xtts.yaml", partial)
    result = CliRunner().invoke(train_xtts, [str(config), "--data-root", str(tmp_path / "data")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tts-assets: ") and "base_model.dvae" in lines[0]
    assert not (tmp_path / "home").exists() and not (tmp_path / "data").exists()  # nothing was started

    config = write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base, gpt={**TINY_GPT, "layers": 4})
    result = CliRunner().invoke(train_xtts, [str(config), "--data-root", str(tmp_path / "data")])
    assert result.exit_code == 2 and "gpt.layers 4 (checkpoint: 2)" in result.stderr

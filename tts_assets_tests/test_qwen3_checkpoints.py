"""Qwen3 checkpoints that fit on a disk: only the newest resumes (full weights, optimizer state);
older ones are slimmed to servable weights in the base model's dtype; all share one speech
tokenizer. On the tiny real-architecture model, with its config saying bf16 like the released ones."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tts_assets.qwen3.checkpoint import (
    SERVABLE_STATE_TMP, SERVABLE_WEIGHTS_TMP, SPEECH_TOKENIZER, STATE_FILE, WEIGHTS_FILE, checkpoint_bytes,
    checkpoints, load_training_state, make_servable, recover,
)
from tts_assets.qwen3.inference import Qwen3Voice
from tts_assets.qwen3.paths import run_dir
from tts_assets.qwen3.train import train_voice

from . import test_qwen3
from .test_qwen3 import VOICE, settings_for

# test_qwen3's fixtures (pytest finds them by name in this module): the tiny model, the voice's codes
# and a private copy of them per test.
tiny_qwen3, encoded_root, layout = test_qwen3.tiny_qwen3, test_qwen3.encoded_root, test_qwen3.layout


@pytest.fixture(scope="module")
def bf16_base(tiny_qwen3, tmp_path_factory):
    """The tiny base with the released models' `"torch_dtype": "bfloat16"` in its config."""
    base = tmp_path_factory.mktemp("qwen3_bf16") / "tiny-base"
    shutil.copytree(tiny_qwen3, base)
    config = json.loads((base / "config.json").read_text())
    config.pop("dtype", None)
    config["torch_dtype"] = "bfloat16"
    (base / "config.json").write_text(json.dumps(config, indent=2))
    return base


def every_step(base, **overrides):
    return settings_for(base, epochs=50, save_every_steps=1, **overrides)


def weights_of(checkpoint):
    with safe_open(checkpoint / WEIGHTS_FILE, "pt") as weights:
        return {name: weights.get_tensor(name) for name in weights.keys()}


def test_older_checkpoints_are_slim_servable_and_share_the_speech_tokenizer(layout, bf16_base):
    run = run_dir(layout, VOICE)
    first = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=2), max_steps=2)
    full_two = weights_of(first.checkpoint)
    resumed = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=2), max_steps=3)
    assert resumed.resumed_from_step == 2  # the newest resumes while the older one is already slim
    older, newest = checkpoints(run)
    assert (older.name, newest.name) == ("checkpoint-2", "checkpoint-3")  # checkpoint-1 pruned

    # The older one: the same weights cast to bf16, speaker encoder kept, no optimizer state.
    slim = weights_of(older)
    assert slim.keys() == full_two.keys() and any(k.startswith("speaker_encoder.") for k in slim)
    assert {t.dtype for t in slim.values()} == {torch.bfloat16}
    assert all(torch.equal(slim[k], full_two[k].to(torch.bfloat16)) for k in slim)
    state = load_training_state(older)
    assert "optimizer" not in state and "scheduler" not in state
    assert state["step"] == 2 and state["settings"]["keep_checkpoints"] == 2 and state["dataset_fingerprint"]
    full_state = load_training_state(newest)
    assert full_state["optimizer"]["state"] and weights_of(newest)["talker.codec_head.weight"].dtype == torch.float32

    # Bytes: bf16 weights are half the fp32 ones; the optimizer state (two fp32 moments) goes.
    older_bytes, newest_bytes = checkpoint_bytes(older), checkpoint_bytes(newest)
    assert 0.49 < older_bytes["weights"] / newest_bytes["weights"] < 0.51
    assert newest_bytes["training_state"] > 1.5 * newest_bytes["weights"]
    assert older_bytes["training_state"] < 10_000
    assert older_bytes["total"] < newest_bytes["total"] / 4
    own = sum(f.stat().st_size for f in older.iterdir() if not f.is_symlink())
    assert older_bytes["total"] == own

    # One speech tokenizer for the run, linked (relatively) from each checkpoint, counted apart.
    shared = run / SPEECH_TOKENIZER
    assert shared.is_dir() and not shared.is_symlink()
    for checkpoint in (older, newest):
        assert os.readlink(checkpoint / SPEECH_TOKENIZER) == os.path.join("..", SPEECH_TOKENIZER)
        assert os.path.samefile(checkpoint / SPEECH_TOKENIZER / "model.safetensors", shared / "model.safetensors")
    assert older_bytes["shared"] == sum(f.stat().st_size for f in shared.iterdir()) > 0

    audio, rate = Qwen3Voice(older, "cpu").speak("He was not an ill disposed young man.", max_new_tokens=20, seed=0)
    assert rate == 24000 and len(audio) >= 1920 and np.isfinite(audio).all()

    # Copied elsewhere with `cp -rL`-style dereferencing, a checkpoint stands alone.
    alone = layout.root / "elsewhere" / older.name
    shutil.copytree(older, alone, symlinks=False)
    assert not (alone / SPEECH_TOKENIZER).is_symlink() and (alone / SPEECH_TOKENIZER / "config.json").is_file()


def test_a_kill_mid_slimming_leaves_each_checkpoint_whole(layout, bf16_base, tmp_path):
    run = run_dir(layout, VOICE)
    train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=3), max_steps=2)
    two = run / "checkpoint-2"

    # Killed while writing the slim files: the full checkpoint stays and the run resumes from it.
    (two / SERVABLE_STATE_TMP).write_bytes(b"cut short")
    (two / SERVABLE_WEIGHTS_TMP).write_bytes(b"cut short")
    resumed = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=3), max_steps=3)
    assert resumed.resumed_from_step == 2
    assert not list(two.glob(".*.tmp")) and "optimizer" not in load_training_state(two)  # slimmed after all

    # Killed between the two renames (slim weights in, full state still there): recover finishes it.
    three = run / "checkpoint-3"
    slimmed_elsewhere = tmp_path / "copy"
    shutil.copytree(three, slimmed_elsewhere, symlinks=True)
    make_servable(slimmed_elsewhere)
    os.replace(slimmed_elsewhere / WEIGHTS_FILE, three / WEIGHTS_FILE)
    os.replace(slimmed_elsewhere / STATE_FILE, three / SERVABLE_STATE_TMP)
    assert "optimizer" in load_training_state(three)
    recover(run)
    assert "optimizer" not in load_training_state(three) and load_training_state(three)["step"] == 3
    assert not list(three.glob(".*.tmp")) and three in checkpoints(run)
    assert weights_of(three)["talker.codec_head.weight"].dtype == torch.bfloat16


def test_the_promoted_checkpoint_resumes_while_newest_then_is_slimmed_not_pruned(layout, bf16_base):
    from tts_assets.models.promotion import promote, read_promoted

    first = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=1), max_steps=1)
    promote(layout, VOICE, "qwen3", first.checkpoint)
    assert "optimizer" in load_training_state(first.checkpoint)  # newest: still resumable
    later = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=1), max_steps=3)
    assert later.resumed_from_step == 1
    assert checkpoints(run_dir(layout, VOICE)) == [first.checkpoint, later.checkpoint]
    assert "optimizer" not in load_training_state(first.checkpoint)
    assert weights_of(first.checkpoint)["talker.codec_head.weight"].dtype == torch.bfloat16
    assert read_promoted(layout, VOICE, "qwen3")["step"] == 1


def test_a_run_shares_one_speech_tokenizer_and_refuses_another(tmp_path):
    from tts_assets.errors import InputFileError
    from tts_assets.qwen3.checkpoint import shared_speech_tokenizer

    base, other, run = tmp_path / "base", tmp_path / "other", tmp_path / "run"
    for folder, size in ((base, 3), (other, 4)):
        (folder / SPEECH_TOKENIZER).mkdir(parents=True)
        (folder / SPEECH_TOKENIZER / "model.safetensors").write_bytes(b"x" * size)
    run.mkdir()
    shared = shared_speech_tokenizer(base, run)
    assert shared == run / SPEECH_TOKENIZER and (shared / "model.safetensors").read_bytes() == b"xxx"
    assert shared_speech_tokenizer(base, run) == shared and not list(run.glob(".*"))
    with pytest.raises(InputFileError, match="differs from the speech tokenizer"):
        shared_speech_tokenizer(other, run)
    assert shared_speech_tokenizer(tmp_path / "no-tokenizer", run) is None


def test_a_run_whose_newest_checkpoint_was_deleted_goes_on_from_a_servable_one(layout, bf16_base, caplog):
    first = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=2), max_steps=2)
    shutil.rmtree(first.checkpoint)  # by hand: checkpoint-1, slimmed, is what is left
    with caplog.at_level("WARNING", logger="tts_assets.qwen3.train"):
        result = train_voice(layout, VOICE, every_step(bf16_base, keep_checkpoints=2), max_steps=3)
    assert "checkpoint-1 holds servable weights only: training goes on from them with a fresh optimizer" in caplog.text
    assert result.resumed_from_step == 1 and result.step == 3 and all(np.isfinite(result.train_losses))

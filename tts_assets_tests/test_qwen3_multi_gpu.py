"""Qwen3-TTS on several GPUs, tested where there are none: 2 gloo processes on the CPU train the
tiny real-architecture model exactly as one process does with twice the batch (clips of different
lengths, a short last micro-batch leaving the second process nothing), write one checkpoint and one
TensorBoard log, resume, report a worker's error as one line, and die with a killed caller."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bench.librivox import build_aligned_voice
from tts_assets.errors import TrainingProcessError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, write_jsonl
from tts_assets.qwen3.checkpoint import checkpoints
from tts_assets.qwen3.codes import encode_voice_codes
from tts_assets.qwen3.paths import codes_manifest, run_dir
from tts_assets.qwen3.train import train_voice
from tts_assets.settings import Qwen3Settings

from . import test_qwen3

tiny_qwen3 = test_qwen3.tiny_qwen3  # the fixture (pytest finds it by name in this module)

VOICE = "reader"


def settings_for(base, **overrides) -> Qwen3Settings:
    defaults = dict(base_model=str(base), device="cpu", epochs=20, batch_size=1, grad_accum=2, lr=1e-3,
                    warmup_steps=1, keep_checkpoints=10)
    return Qwen3Settings(**{**defaults, **overrides})


@pytest.fixture(scope="module")
def encoded_root(tmp_path_factory, tiny_qwen3):
    """The encoded voice with an odd number of training clips: each epoch ends on a lone clip."""
    data = build_aligned_voice(tmp_path_factory.mktemp("qwen3_voice"), VOICE)
    encode_voice_codes(DataLayout(data), VOICE, settings_for(tiny_qwen3), "cpu")
    manifest = codes_manifest(DataLayout(data), VOICE)
    rows = list(read_jsonl(manifest))
    if sum(r["split"] == "train" for r in rows) % 2 == 0:
        rows.remove(next(r for r in rows if r["split"] == "train"))
        write_jsonl(manifest, rows)
    return data


def copy_of(encoded_root, folder) -> DataLayout:
    shutil.copytree(encoded_root, folder)
    return DataLayout(folder)


def logged_losses(run) -> list[float]:
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return [event.value for event in events.Scalars("train/loss")]


def test_two_processes_train_as_one_with_the_same_global_batch_and_resume(encoded_root, tiny_qwen3, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rows = list(read_jsonl(codes_manifest(DataLayout(encoded_root), VOICE)))
    train = [r for r in rows if r["split"] == "train"]
    assert len(train) == 3 and len({len(r["text"]) for r in train}) == 3  # lengths differ; the last clip is alone
    one, two = copy_of(encoded_root, tmp_path / "one"), copy_of(encoded_root, tmp_path / "two")

    alone = train_voice(one, VOICE, settings_for(tiny_qwen3, batch_size=2), max_steps=4)
    first = train_voice(two, VOICE, settings_for(tiny_qwen3, gpus=2), max_steps=2)
    assert first.step == 2 and first.resumed_from_step is None
    np.testing.assert_allclose(first.train_losses, alone.train_losses[:2], rtol=1e-5)
    run = run_dir(two, VOICE)
    assert [p.name for p in checkpoints(run)] == [f"checkpoint-{s}" for s in (1, 2)]  # one per save
    assert not list(run.glob(".*"))  # nothing half-written, nothing set aside
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 1  # one writer
    np.testing.assert_allclose(logged_losses(run), first.train_losses, rtol=1e-6)  # each step once

    caplog.clear()
    then = train_voice(two, VOICE, settings_for(tiny_qwen3, gpus=2), max_steps=4)
    assert then.resumed_from_step == 2 and then.step == 4
    assert "training in 2 processes (gloo)" in caplog.text
    assert caplog.text.count(f"{VOICE}: resuming from checkpoint-2 (step 2") == 1  # the first process's log, here
    np.testing.assert_allclose(then.train_losses, alone.train_losses[2:], rtol=1e-5)
    np.testing.assert_allclose(first.val_losses + then.val_losses, alone.val_losses, rtol=1e-5)
    assert [p.name for p in checkpoints(run)] == [p.name for p in checkpoints(run_dir(one, VOICE))]
    together, single, resumed_from = (load_file(c / "model.safetensors") for c in (then.checkpoint, alone.checkpoint,
                                                                                   first.checkpoint))
    assert together.keys() == single.keys()
    moved = 0
    for name, weight in single.items():
        np.testing.assert_allclose(together[name].numpy(), weight.numpy(), atol=1e-5, err_msg=name)
        moved += int(not np.array_equal(weight.numpy(), resumed_from[name].numpy()))
    assert moved > len(single) // 2  # the steps after resuming changed most weights: the comparison means something


def test_a_process_that_refuses_fails_the_run_with_its_one_line_error(encoded_root, tiny_qwen3, tmp_path):
    layout = copy_of(encoded_root, tmp_path / "data")
    missing = tmp_path / "no-such-model"
    with pytest.raises(TrainingProcessError, match=rf"^training process [01] of 2: model '{missing}': "):
        train_voice(layout, VOICE, settings_for(missing, gpus=2))


KILLED_CALLER = """
import sys
from pathlib import Path
from tts_assets.layout import DataLayout
from tts_assets.settings import Qwen3Settings
from tts_assets.qwen3.train import train_voice
settings = Qwen3Settings(base_model=sys.argv[2], device="cpu", epochs=1000, batch_size=1, gpus=2)
train_voice(DataLayout(Path(sys.argv[1])), "reader", settings)
"""


def test_a_killed_caller_takes_its_training_processes_with_it(encoded_root, tiny_qwen3, tmp_path):
    layout = copy_of(encoded_root, tmp_path / "data")
    caller = subprocess.Popen([sys.executable, "-c", KILLED_CALLER, str(layout.root), str(tiny_qwen3)],
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 180
    while not list(run_dir(layout, VOICE).glob("tensorboard/events.*")) and time.monotonic() < deadline:
        assert caller.poll() is None, "the training ended by itself"
        time.sleep(0.2)
    workers = psutil.Process(caller.pid).children()
    assert len(workers) >= 2, workers  # the two training processes (and spawn's resource tracker)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive

"""XTTS-v2 fine-tuning on a tiny GPT through coqui's real GPTTrainer/Trainer: a few steps with finite
losses, pruned checkpoints and TensorBoard scalars; the checkpoint loaded back by coqui's Xtts for
inference at 24 kHz; a run sized in optimizer steps on an export without validation clips; the NaN
guard; a training killed with SIGKILL resumed from its checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import numpy as np
import soundfile as sf
import torch

from tts_assets.layout import DataLayout
from tts_assets.xtts import paths
from tts_assets.xtts.base_model import read_checkpoint, xtts_state
from tts_assets.xtts.config import XttsVoiceConfig
from tts_assets.errors import TrainingDivergedError
from tts_assets.xtts.export import export_xtts_dataset
from tts_assets.xtts.checkpoint import checkpoint_info, checkpoints
from tts_assets.xtts.coqui_config import build_trainer_config
from tts_assets.xtts.train import train_xtts

pytest.register_assert_rewrite("tts_assets_tests.xtts_fixtures")  # it is also a plugin (below)
from .xtts_fixtures import VOICE, write_voice_config  # noqa: E402

pytest_plugins = ["tts_assets_tests.xtts_fixtures"]


def scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return events


def test_training_steps_checkpoints_and_inference(xtts_data_root, tiny_xtts_base, tmp_path):
    layout = DataLayout(xtts_data_root)
    config = XttsVoiceConfig.load(write_voice_config(
        tmp_path / "reader_xtts.yaml", tiny_xtts_base, training={"epochs": 3, "keep_checkpoints": 2, "save_step": 1}))
    export_xtts_dataset(layout, config)

    result = train_xtts(layout, config)

    run = paths.run_dir(layout, VOICE, "main")
    assert result.run_dir == run and result.epoch == 3 and result.steps_this_run == 3  # 2 clips, batch 2
    assert [row["step"] for row in result.losses] == [0, 1, 2]
    for row in result.losses:
        assert all(np.isfinite(row[k]) for k in ("loss", "loss_text_ce", "loss_mel_ce"))
        assert row["loss"] == row["loss_text_ce"] + row["loss_mel_ce"] or abs(
            row["loss"] - row["loss_text_ce"] - row["loss_mel_ce"]) < 1e-4
    assert np.isfinite(result.eval_loss) and np.isfinite(result.train_loss)
    assert result.warnings and "< 252" in result.warnings[0]
    assert "below the minimum of 250" in result.warnings[1] and len(result.warnings) == 2
    assert (result.epochs, result.epochs_from, result.steps_per_epoch, result.total_optimizer_steps,
            result.optimizer_steps, result.evaluated, result.eval_clips) == (3, "training.epochs", 1, 3, 3, True, 2)
    # one checkpoint per epoch, pruned to the newest two; best_model.pth links one of them
    assert [step for step, _ in checkpoints(run)] == [1, 2]
    assert not list(run.glob(".*.tmp"))
    best = json.loads((run / "best.json").read_text())
    assert (run / "best_model.pth").is_file() and best["target_loss"] == min(
        e.value for e in scalars(run).Scalars("EvalStats/avg_loss"))
    if (run / best["checkpoint"]).exists():  # a link to the checkpoint, not a second copy
        assert os.path.samefile(run / "best_model.pth", run / best["checkpoint"])
    assert checkpoint_info(run / "checkpoint_2.pth") == {
        "step": 2, "epoch": 3, "optimizer_steps": 3,
        "model_loss": {"train_loss": result.train_loss, "eval_loss": result.eval_loss}}
    # only the GPT moved: the decoder is the base model's
    base = xtts_state(read_checkpoint(tiny_xtts_base / "model.pth"))
    trained = xtts_state(read_checkpoint(run / "checkpoint_2.pth"))
    assert not torch.equal(base["gpt.text_head.weight"], trained["gpt.text_head.weight"])
    assert torch.equal(base["hifigan_decoder.waveform_decoder.conv_pre.weight"],
                       trained["hifigan_decoder.waveform_decoder.conv_pre.weight"])
    # TensorBoard scalars of every step and epoch
    events = scalars(run)
    assert [e.step for e in events.Scalars("TrainIterStats/loss")] == [0, 1, 2]
    assert [round(e.value, 4) for e in events.Scalars("TrainIterStats/loss")] == [
        round(r["loss"], 4) for r in result.losses]
    assert len(events.Scalars("EvalStats/avg_loss")) == 3
    summary = json.loads(paths.latest_training(layout, VOICE).read_text())
    assert summary["status"] == "done" and summary["step"] == 2

    # the checkpoint as coqui documents it: load_json → init_from_config → load_checkpoint → inference
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    coqui_config = XttsConfig()
    coqui_config.load_json(str(run / "config.json"))
    model = Xtts(coqui_config)  # what the deprecated Xtts.init_from_config does
    model.load_checkpoint(coqui_config, checkpoint_path=str(run / "checkpoint_2.pth"),
                          vocab_path=str(tiny_xtts_base / "vocab.json"), eval=True)
    reference = sorted((paths.export_dir(layout, VOICE) / "wavs").rglob("*.wav"))[0]
    latent, speaker = model.get_conditioning_latents(audio_path=[str(reference)])
    torch.manual_seed(0)
    wav = np.asarray(model.inference("He was not an ill disposed young man.", "en", latent, speaker)["wav"])
    assert coqui_config.model_args.output_sample_rate == 24000
    assert wav.ndim == 1 and len(wav) > 24000 * 0.5 and np.isfinite(wav).all() and np.abs(wav).max() > 0
    del model

    # trained to the configured epochs: nothing more to do
    again = train_xtts(layout, config)
    assert again.already_done and again.steps_this_run == 0 and again.step == 2 and again.optimizer_steps == 3

    # `tts-assets infer` and the samples (24 kHz files, TensorBoard audio)
    from click.testing import CliRunner

    from tts_assets.xtts.samples import render_samples
    from tts_assets.cli import infer

    spoken = CliRunner().invoke(infer, [str(config.source), str(tmp_path / "out.wav"), "--text", "Hello there.",
                                        "--data-root", str(xtts_data_root)])
    assert spoken.exit_code == 0, spoken.output
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == 24000 and len(audio) > 12000 and np.abs(audio).max() > 0
    assert spoken.stdout.startswith(f"{tmp_path / 'out.wav'}: {round(len(audio) / rate, 3)} s from {run / 'best_model.pth'}")
    missing = CliRunner().invoke(infer, [str(config.source), str(tmp_path / "x.wav"), "--checkpoint", "nope.pth",
                                         "--data-root", str(xtts_data_root)])
    assert missing.exit_code == 2 and "nope.pth: no such checkpoint" in missing.stderr
    samples = render_samples(layout, config)
    assert samples.step == 2 and samples.checkpoint == run / "checkpoint_2.pth"  # the newest
    assert [sf.info(p).samplerate for p in samples.files] == [24000]
    assert samples.folder == run / "samples" / f"step_{samples.step}"
    assert scalars(run / "samples").Tags()["audio"] == ["samples/0"]


def test_reported_loss_is_the_loss_not_its_share_of_an_accumulated_step(xtts_data_root, tiny_xtts_base, tmp_path):
    """coqui divides the loss by grad_accum_steps for backward and reported it divided; the loss
    logged, averaged and stored in checkpoints is the text + mel loss itself."""
    layout = DataLayout(xtts_data_root)
    config = XttsVoiceConfig.load(write_voice_config(
        tmp_path / "reader_xtts.yaml", tiny_xtts_base,
        training={"epochs": 1, "batch_size": 1, "grad_accum_steps": 2, "run_eval": False}))
    export_xtts_dataset(layout, config)
    result = train_xtts(layout, config)
    assert len(result.losses) == 2
    for row in result.losses:
        assert row["loss"] == pytest.approx(row["loss_text_ce"] + row["loss_mel_ce"], rel=1e-4)
    losses = [row["loss"] for row in result.losses]  # the epoch's average, not half of it
    assert 0.95 * min(losses) <= result.train_loss <= 1.05 * max(losses)


def adam_steps(checkpoint: Path) -> int:
    """How many times the checkpoint's AdamW stepped (torch counts it per parameter)."""
    state = read_checkpoint(checkpoint)["optimizer"][0]["state"]
    return {int(s["step"]) for s in state.values()}.pop()


def test_steps_sized_run_without_validation_clips(xtts_data_root, tiny_xtts_base, tmp_path, caplog):
    """An export without validation clips trains without evaluation (and says so); the epochs come
    from training.steps, counted as coqui's optimizer steps them (a partial accumulation group at an
    epoch's end is a step); short epochs are saved at the run's end only; raising training.steps
    resumes the checkpoint, optimizer state included."""
    import logging

    from tts_assets.defs.xtts.assets import training_metadata
    from tts_assets.manifest.io import read_jsonl, write_jsonl
    from tts_assets.xtts.checks import checkpoint_sound

    layout = DataLayout(xtts_data_root)
    manifest = layout.aligned_manifest(VOICE)
    write_jsonl(manifest, [{**row, "split": "train"} for row in read_jsonl(manifest)])  # no val clips
    training = {"epochs": None, "steps": 3, "batch_size": 1, "grad_accum_steps": 3}
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base, training=training))
    exported = export_xtts_dataset(layout, config)
    assert (exported["train"], exported["eval"]) == (4, 0) and config.training.run_eval

    with caplog.at_level(logging.INFO, logger="tts_assets.xtts"):
        result = train_xtts(layout, config)

    # 4 clips at batch 1: 4 batches; accumulation 3: a group of 3 and one of 1 = 2 optimizer steps an
    # epoch; 3 steps need 2 epochs = 4 optimizer steps, 8 batches
    run = result.run_dir
    plan = ("4 training clips, batch 1 x accumulation 3 = effective batch 3; 4 batches = 2 optimizer steps per "
            "epoch; 2 epochs from training.steps 3 = 4 optimizer steps in total; no validation clips "
            "(metadata_eval.csv is empty): training without evaluation")
    assert any(r.getMessage().startswith(f"{VOICE}: {plan}") for r in caplog.records)
    assert (result.epoch, result.epochs, result.step, result.steps_this_run) == (2, 2, 7, 8)
    assert (result.optimizer_steps, result.total_optimizer_steps, result.steps_per_epoch) == (4, 4, 2)
    assert adam_steps(run / "checkpoint_7.pth") == 4  # coqui's trainer stepped the optimizer 4 times
    progress = [r.getMessage() for r in caplog.records if "optimizer step" in r.getMessage() and "s/step" in r.getMessage()]
    assert [m.split("optimizer step ")[1].split(")")[0] for m in progress] == [
        "0/4", "0/4", "1/4", "2/4", "2/4", "2/4", "3/4", "4/4"]  # after each batch
    # the warnings: too few steps, no evaluation
    assert len(result.warnings) == 3 and "below the minimum of 250" in result.warnings[1]
    assert result.warnings[2].startswith("no validation clips") and not result.evaluated
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert all(any(w in m for m in warned) for w in result.warnings)
    # no evaluation: no eval loss; best_model.pth goes by the training loss
    assert result.eval_loss is None and np.isfinite(result.train_loss)
    best = json.loads((run / "best.json").read_text())
    assert best["eval_loss"] is None and best["target_loss"] == result.train_loss == result.best_loss
    assert "EvalStats/avg_loss" not in scalars(run).Tags()["scalars"]
    # epochs of 4 batches < save_step (1000): no mid-epoch checkpoint, one at the run's end
    assert [step for step, _ in checkpoints(run)] == [7]
    passed, detail = checkpoint_sound(layout, VOICE)
    assert passed and detail == (f"step 7, epoch 2/2, optimizer step 4/4, train loss {result.train_loss}, "
                                 "no evaluation"), detail
    metadata = training_metadata(result)
    assert {k: metadata[k] for k in ("train_clips", "eval_clips", "effective_batch", "batches_per_epoch",
                                     "steps_per_epoch", "total_optimizer_steps", "optimizer_steps")} == {
        "train_clips": 4, "eval_clips": 0, "effective_batch": 3, "batches_per_epoch": 4, "steps_per_epoch": 2,
        "total_optimizer_steps": 4, "optimizer_steps": 4}
    assert metadata["epochs_from"].text == "training.steps 3"
    assert metadata["evaluation"].text.startswith("no validation clips")
    assert metadata["warnings"].data == result.warnings
    summary = json.loads(paths.latest_training(layout, VOICE).read_text())
    assert summary["total_optimizer_steps"] == 4 and summary["evaluated"] is False

    # the checkpoint as coqui documents it loads for inference
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    coqui_config = XttsConfig()
    coqui_config.load_json(str(run / "config.json"))
    assert coqui_config.run_eval is False and coqui_config.epochs == 2
    model = Xtts(coqui_config)
    model.load_checkpoint(coqui_config, checkpoint_path=str(run / "checkpoint_7.pth"),
                          vocab_path=str(tiny_xtts_base / "vocab.json"), eval=True)
    saved = xtts_state(read_checkpoint(run / "checkpoint_7.pth"))
    assert torch.equal(model.gpt.text_head.weight, saved["gpt.text_head.weight"])
    del model

    # more steps: one more epoch from the checkpoint, its optimizer state restored
    more = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base,
                                                   training={**training, "steps": 5}))
    resumed = train_xtts(layout, more)
    assert (resumed.resumed_step, resumed.epoch, resumed.epochs, resumed.step, resumed.steps_this_run) == (7, 3, 3, 11, 4)
    assert (resumed.optimizer_steps, resumed.total_optimizer_steps) == (6, 6)
    assert adam_steps(run / "checkpoint_11.pth") == 6
    assert [step for step, _ in checkpoints(run)] == [7, 11]


def test_a_new_run_folder_is_the_voices_newest_model(xtts_data_root, tiny_xtts_base, tmp_path, monkeypatch):
    """The nightly schedule trains a run folder per dataset (steps from 0 again): samples, inference,
    the server and promotion all take the newest run's checkpoint, not the config's run."""
    from tts_assets.evaluate.evaluate import Evaluation, record
    from tts_assets.models.promotion import promote, read_promoted
    from tts_assets.models.engines import ENGINES, served_checkpoint
    from tts_assets.xtts.inference import resolve_checkpoint

    layout = DataLayout(xtts_data_root)
    monkeypatch.setenv("TTS_ASSETS_XTTS_CONFIGS", str(tmp_path))
    main = XttsVoiceConfig.load(write_voice_config(tmp_path / f"{VOICE}_xtts.yaml", tiny_xtts_base,
                                                   training={"epochs": 2}))
    export_xtts_dataset(layout, main)
    first = train_xtts(layout, main)
    promote(layout, VOICE, "xtts", first.last_checkpoint)
    nightly = main.model_copy(update={"training": main.training.model_copy(update={"run_name": "data-1234",
                                                                                   "epochs": 1})})
    second = train_xtts(layout, nightly)
    assert second.run_dir.name == "data-1234" and second.step < first.step  # a new run counts from 0

    assert resolve_checkpoint(layout, main, "last") == second.last_checkpoint
    assert ENGINES["xtts"].checkpoints(layout, VOICE)[-1] == second.last_checkpoint
    # Until the new run's checkpoint passes evaluation, the one promoted in the older run is served.
    served = served_checkpoint(layout, VOICE, "xtts", require_promoted=True)
    assert served.checkpoint == first.last_checkpoint and served.promoted

    def passing(checkpoint):
        return Evaluation(VOICE, "xtts", str(checkpoint), checkpoint_info(checkpoint)["step"], {}, {}, [])

    assert record(layout, passing(second.last_checkpoint))  # newer, despite its lower step
    assert Path(read_promoted(layout, VOICE, "xtts")["path"]) == second.last_checkpoint
    assert served_checkpoint(layout, VOICE, "xtts", require_promoted=True).checkpoint == second.last_checkpoint
    assert not record(layout, passing(first.last_checkpoint))  # the older run's stays behind


def test_coqui_config_defaults(tmp_path, tiny_xtts_base, xtts_data_root):
    layout = DataLayout(xtts_data_root)
    config = XttsVoiceConfig.load(write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base,
                                                     training=None, samples=None))
    export_xtts_dataset(layout, config)
    coqui = build_trainer_config(config, config.files(layout), layout, [{"text": "x", "speaker_wav": [], "language": "en"}])
    assert coqui.mixed_precision is False and coqui.lr == 5e-6 and coqui.batch_size == 3
    assert coqui.epochs == 1000 and coqui.run_eval  # 1000 steps: 2 clips are one partial step an epoch
    assert coqui.optimizer == "AdamW" and coqui.optimizer_params["betas"] == [0.9, 0.96]
    assert coqui.model_args.max_wav_length == 150000 and coqui.model_args.max_text_length == 200
    assert coqui.model_args.gpt_num_audio_tokens == 1026 and coqui.model_args.xtts_checkpoint == ""
    assert coqui.datasets[0].formatter == "coqui" and coqui.datasets[0].meta_file_val == "metadata_eval.csv"


def test_mixed_precision_only_when_asked_and_with_a_warning(xtts_data_root, tiny_xtts_base, tmp_path):
    layout = DataLayout(xtts_data_root)
    config = XttsVoiceConfig.load(write_voice_config(
        tmp_path / "reader_xtts.yaml", tiny_xtts_base, training={"mixed_precision": True}))
    export_xtts_dataset(layout, config)
    result = train_xtts(layout, config)
    assert any("mixed_precision is on" in w and "NaN" in w for w in result.warnings)
    assert all(np.isfinite(row["loss"]) for row in result.losses)  # bf16 autocast on the CPU
    assert json.loads((result.run_dir / "config.json").read_text())["mixed_precision"] is True


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(xtts_data_root, tiny_xtts_base, tmp_path):
    layout = DataLayout(xtts_data_root)
    config_path = write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base)
    export_xtts_dataset(layout, XttsVoiceConfig.load(config_path))
    good = train_xtts(layout, XttsVoiceConfig.load(config_path))
    run = good.run_dir
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in run.glob("*.pth")}
    assert list(before) and good.last_checkpoint == run / "checkpoint_0.pth"

    # resumed with an absurd learning rate (the YAML's lr applies on resume): the weights blow up
    diverging = XttsVoiceConfig.load(write_voice_config(
        tmp_path / "reader_xtts.yaml", tiny_xtts_base, training={"epochs": 5, "lr": 1e4}))
    try:
        train_xtts(layout, diverging)
        raise AssertionError("training did not stop")
    except TrainingDivergedError as error:
        message = str(error)
    assert message.startswith(f"{run}: training stopped at step ")
    assert "is not finite" in message and f"last good checkpoint kept: {run / 'checkpoint_0.pth'}" in message
    assert "lower training.lr" in message and "\n" not in message
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in run.glob("*.pth")}
    assert after == before  # nothing newer was saved, nothing pruned
    assert torch.isfinite(xtts_state(read_checkpoint(run / "checkpoint_0.pth"))["gpt.text_head.weight"]).all()
    assert json.loads(paths.latest_training(layout, VOICE).read_text())["status"] == "failed"


def test_training_killed_then_resumed(xtts_data_root, tiny_xtts_base, tmp_path):
    """`tts-assets train-xtts` (a Dagster run holding the `gpu` pool slot) killed with SIGKILL after
    its first checkpoint; run again, it frees the dead run's slot and continues from the saved step."""
    from click.testing import CliRunner

    from tts_assets.cli import main as tts_assets_cli

    layout = DataLayout(xtts_data_root)
    config = write_voice_config(tmp_path / "reader_xtts.yaml", tiny_xtts_base, training={"epochs": 40, "save_step": 1})
    run = paths.run_dir(layout, VOICE, "main")
    command = [str(Path(sys.executable).parent / "tts-assets"), "train-xtts", str(config),
               "--data-root", str(xtts_data_root)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not checkpoints(run) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -9
    killed_step, killed_checkpoint = checkpoints(run)[-1]
    killed = checkpoint_info(killed_checkpoint)
    assert killed["epoch"] < 40

    with dg.DagsterInstance.get() as instance:
        (dead,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert dead.job_name == "train_xtts"
        assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 1  # the dead run's

    # two more epochs than the killed run finished, through the same command
    write_voice_config(config, tiny_xtts_base, training={"epochs": killed["epoch"] + 2, "save_step": 1})
    result = CliRunner().invoke(tts_assets_cli, ["train-xtts", str(config), "--data-root", str(xtts_data_root)])
    assert result.exit_code == 0, result.output
    assert f"resumed from step {killed_step}" in result.stdout
    assert f"checkpoint: {run / f'checkpoint_{killed_step + 2}.pth'} (step {killed_step + 2}" in result.stdout
    assert "warning: training.batch_size 2 x" in result.stderr

    summary = json.loads(paths.latest_training(layout, VOICE).read_text())
    assert summary["resumed_from"] == str(killed_checkpoint) and summary["resumed_step"] == killed_step
    assert [row["step"] for row in summary["losses"]] == [killed_step + 1, killed_step + 2]
    assert summary["step"] == killed_step + 2 and summary["epoch"] == killed["epoch"] + 2
    assert [step for step, _ in checkpoints(run)] == [killed_step + 1, killed_step + 2]
    assert not list(run.glob(".*.tmp"))
    samples = json.loads(paths.latest_samples(layout, VOICE).read_text())
    assert samples["step"] == killed_step + 2 and len(samples["samples"]) == 1

    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("gpu").active_slot_count == 0
        (done,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        events = instance.all_logs(done.run_id)
        checks = {e.dagster_event.asset_check_evaluation_data.check_name: e.dagster_event.asset_check_evaluation_data.passed
                  for e in events if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"}
        # The evaluation check runs too; a random tiny GPT says no words, so it (rightly) fails.
        assert checks == {"xtts_export_accounting": True, "xtts_export_clips_valid": True,
                          "xtts_checkpoint_sound": True, "xtts_samples_audible": True,
                          "xtts_checkpoint_evaluation": False}
        progress = [e.user_message for e in events if f"{VOICE}: step {killed_step + 1} (epoch" in e.user_message]
        assert progress and "s/step" in progress[0]  # training progress in the run's logs


def test_precision_benchmark_runs(tmp_path):
    """The GPU benchmark (`python -m bench.xtts_step`) on a tiny GPT, so it works when a GPU
    session runs it at full size."""
    from bench.xtts_step import TINY, run

    result = run("fp32", TINY, steps=1, batch_size=2, seconds=3.0, warmup=0, device="cpu")
    assert result["non_finite_losses"] == 0 and result["mean_step_s"] > 0 and np.isfinite(result["last_loss"])
    assert result["gpt_params_m"] < 5 and result["device"] == "cpu"

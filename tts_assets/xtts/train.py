"""XTTS-v2 GPT fine-tuning through coqui's real `GPTTrainer` and `Trainer`.

What this adds around them (each is a trap upstream):
- the voice config is checked against the base files before anything is built;
- one run folder per voice and `training.run_name`, resumed from its newest checkpoint (coqui's
  `continue_path` would re-read config.json from the folder and ignore the YAML's changes);
- checkpoints are written atomically (coqui writes them in place: a kill mid-save leaves a
  truncated file that the next resume picks) and pruned to `training.keep_checkpoints`;
  `best_model.pth` is a hard link, not a second ~5 GB copy;
- a NaN/inf loss stops the run before its backward pass, and weights are checked finite before
  every save, so the last checkpoint on disk is always a good one;
- `Trainer.fit()` calls `sys.exit(1)` on any error and deletes run folders without checkpoints:
  it is not used, errors propagate as exceptions;
- importing coqui's XTTS dataset module sets torch to one CPU thread; the count is restored;
- the run is sized in optimizer steps (`training.steps`, see `plan.py`), not coqui's epochs, and
  logs its plan; an export without validation clips trains without evaluation instead of failing.
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tts_assets.atomic import write_text_atomic
from tts_assets.models.promotion import read_promoted
from tts_assets.models.trained_on import dataset_fingerprint, record_trained
from tts_assets.layout import DataLayout
from tts_assets.xtts import paths
from tts_assets.xtts.base_model import check_base_model
from tts_assets.xtts.checkpoint import best_checkpoint, checkpoint_info, last_checkpoint, read_best
from tts_assets.xtts.coqui_config import build_trainer_config, choose_reference, import_coqui, training_plan
from tts_assets.xtts.config import XttsVoiceConfig
from tts_assets.xtts.trainer import apply_lr, check_resume, load_base_weights, make_trainer_class

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    voice: str
    run_dir: Path
    step: int
    epoch: int
    epochs: int
    last_checkpoint: Path
    best_checkpoint: Path | None
    # the plan (plan.TrainingPlan): optimizer steps are batch_size x grad_accum_steps clips; `step`
    # and checkpoint names count batches, as coqui's do
    train_clips: int = 0
    eval_clips: int = 0
    effective_batch: int = 0
    batches_per_epoch: int = 0
    steps_per_epoch: int = 0  # optimizer steps per epoch
    total_optimizer_steps: int = 0  # of the whole run: epochs x steps_per_epoch
    target_steps: int | None = None  # training.steps; None when training.epochs was set
    epochs_from: str = "training.steps"
    evaluated: bool = True  # evaluated after every epoch (else best_model.pth goes by training loss)
    evaluation: str = ""
    optimizer_steps: int | None = None  # done, by the last checkpoint
    resumed_from: Path | None = None
    resumed_step: int | None = None
    steps_this_run: int = 0
    train_loss: float | None = None
    eval_loss: float | None = None
    best_loss: float | None = None
    median_step_s: float | None = None  # seconds per training step (batch), this run
    peak_rss_mb: int = 0
    peak_gpu_mb: int | None = None
    device: str = "cpu"
    warnings: list[str] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)  # the last steps of this run
    already_done: bool = False
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("run_dir", "last_checkpoint", "best_checkpoint", "resumed_from"):
            data[key] = str(data[key]) if data[key] is not None else None
        return data


def _peak_gpu_mb() -> int | None:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated() / 2**20)
    return None


def _write_summary(layout: DataLayout, config: XttsVoiceConfig, result: TrainResult, status: str) -> None:
    text = json.dumps({"status": status, **result.to_dict()}, indent=2) + "\n"
    write_text_atomic(paths.training_summary(layout, config.voice, config.training.run_name), text)
    write_text_atomic(paths.latest_training(layout, config.voice), text)


def train_xtts(
    layout: DataLayout, config: XttsVoiceConfig, progress: Callable[[str], None] | None = None
) -> TrainResult:
    """Fine-tune the voice's GPT for `training.steps` optimizer steps (whole epochs of the export;
    `training.epochs` instead when set), resuming the run folder's newest checkpoint: raise either
    and run again to train on. A run that finishes records the aligned dataset it trained on, as
    Qwen3's does. Raises XttsConfigError / XttsDataError before any work, TrainingDivergedError on NaN."""
    started = time.perf_counter()
    fingerprint = dataset_fingerprint(layout, config.voice)  # the data this run starts from
    voice, t = config.voice, config.training
    files, base = check_base_model(config, layout)
    plan = training_plan(layout, config)
    warnings = [w for w in (config.effective_batch_warning(), config.mixed_precision_warning()) if w]
    warnings += plan.warnings()
    log.info("%s: %s", voice, plan.describe())
    if progress:
        progress(plan.describe())
    for warning in warnings:
        log.warning("%s: %s", voice, warning)
        if progress:
            progress(f"warning: {warning}")
    planned = dict(
        epochs=plan.epochs, train_clips=plan.train_clips, eval_clips=plan.eval_clips,
        effective_batch=plan.effective_batch, batches_per_epoch=plan.batches_per_epoch,
        steps_per_epoch=plan.steps_per_epoch, total_optimizer_steps=plan.total_steps, target_steps=plan.target_steps,
        epochs_from=plan.epochs_from, evaluated=plan.evaluate, evaluation=plan.evaluation, warnings=warnings,
    )

    run_dir = paths.run_dir(layout, voice, t.run_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in run_dir.glob(".*.tmp"):  # a save cut short by a kill (never a real checkpoint)
        leftover.unlink()
    resume = last_checkpoint(run_dir)
    resumed_info = checkpoint_info(resume) if resume else None
    if resumed_info and resumed_info["epoch"] >= plan.epochs:
        best = read_best(run_dir) or {}
        result = TrainResult(
            voice=voice, run_dir=run_dir, step=resumed_info["step"], epoch=resumed_info["epoch"],
            last_checkpoint=resume, best_checkpoint=best_checkpoint(run_dir), resumed_from=resume,
            resumed_step=resumed_info["step"], best_loss=best.get("target_loss"),
            train_loss=(resumed_info["model_loss"] or {}).get("train_loss"),
            eval_loss=(resumed_info["model_loss"] or {}).get("eval_loss"), already_done=True,
            optimizer_steps=resumed_info["optimizer_steps"], **planned,
        )
        log.info("%s: %s already has %d of %d epochs (%s, optimizer step %s); nothing to train", voice, run_dir,
                 result.epoch, plan.epochs, resume.name, result.optimizer_steps)
        _write_summary(layout, config, result, "done")
        return result

    from trainer import TrainerArgs

    from TTS.tts.datasets import load_tts_samples

    _, GPTTrainer, _ = import_coqui()
    test_sentences = []
    if t.tensorboard_audio:
        references = [str(p) for p in choose_reference(layout, config)]
        test_sentences = [{"text": s, "speaker_wav": references, "language": config.language}
                          for s in config.samples.sentences]
    coqui_config = build_trainer_config(config, files, layout, test_sentences, plan)
    model = GPTTrainer(coqui_config)  # = GPTTrainer.init_from_config, deprecated in coqui-tts 0.28
    if resume:
        check_resume(model, resume, config)
        log.info("%s: resuming %s from %s (step %d, epoch %d)", voice, run_dir, resume.name,
                 resumed_info["step"], resumed_info["epoch"])
    else:
        load_base_weights(model, base, files.model)
        log.info("%s: new run %s from %s", voice, run_dir, files.model)
    del base
    train_samples, eval_samples = load_tts_samples(coqui_config, eval_split=plan.evaluate)
    args = TrainerArgs(
        continue_path=str(run_dir), restore_path=str(resume) if resume else "",
        best_path="", grad_accum_steps=t.grad_accum_steps, gpu=t.gpu,
    )
    trainer_class = make_trainer_class()
    trainer_logger = logging.getLogger("trainer")
    handlers_before = list(trainer_logger.handlers)
    status = "failed"
    trainer = None
    try:
        trainer = trainer_class(
            args, coqui_config, output_path=str(run_dir), model=model, train_samples=train_samples,
            eval_samples=eval_samples, parse_command_line_args=False, voice_config=config, progress=progress,
            protect=Path(promoted["path"]) if (promoted := read_promoted(layout, voice, "xtts")) else None,
            optimizer_steps=(resumed_info or {}).get("optimizer_steps") or 0, total_optimizer_steps=plan.total_steps,
        )
        if resume:
            old_lr = apply_lr(trainer, t.lr)
            if old_lr is not None:
                log.warning("%s: training.lr changed from %g to %g since the checkpoint: using %g", voice, old_lr,
                            t.lr, t.lr)
        log.info("%s: training from step %d (optimizer step %d) to epoch %d (optimizer step %d)", voice,
                 trainer.total_steps_done, trainer.optimizer_steps, plan.epochs, plan.total_steps)
        trainer._fit()
        status = "done"
    finally:
        if trainer is not None:
            trainer.dashboard_logger.finish()
        for handler in trainer_logger.handlers[:]:
            if handler not in handlers_before:
                trainer_logger.removeHandler(handler)
                handler.close()
        if trainer is not None:
            last = last_checkpoint(run_dir)
            info = checkpoint_info(last) if last else {"step": 0, "epoch": 0, "optimizer_steps": 0, "model_loss": {}}
            losses = info.get("model_loss") or {}
            best = read_best(run_dir) or {}
            result = TrainResult(
                voice=voice, run_dir=run_dir, step=info["step"], epoch=info["epoch"],
                optimizer_steps=info["optimizer_steps"],
                last_checkpoint=last, best_checkpoint=best_checkpoint(run_dir), resumed_from=resume,
                resumed_step=resumed_info["step"] if resumed_info else None,
                steps_this_run=len(trainer.step_times),
                train_loss=losses.get("train_loss"), eval_loss=losses.get("eval_loss"),
                best_loss=best.get("target_loss"),
                median_step_s=round(statistics.median(trainer.step_times), 4) if trainer.step_times else None,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, peak_gpu_mb=_peak_gpu_mb(),
                device="cuda" if trainer.use_cuda else "cpu", losses=list(trainer.step_losses),
                wall_s=round(time.perf_counter() - started, 2), **planned,
            )
            _write_summary(layout, config, result, status)
    record_trained(paths.xtts_models_dir(layout, voice), fingerprint, result.last_checkpoint, result.step)
    log.info("%s: trained to step %d, epoch %d/%d, optimizer step %s/%d; last %s, best %s", voice, result.step,
             result.epoch, plan.epochs, result.optimizer_steps, plan.total_steps,
             result.last_checkpoint.name if result.last_checkpoint else None,
             result.best_checkpoint.name if result.best_checkpoint else None)
    return result

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
- importing coqui's XTTS dataset module sets torch to one CPU thread; the count is restored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tts_assets.atomic import atomic_path, write_text_atomic
from tts_assets.evaluate.promotion import read_promoted
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.xtts import paths
from tts_assets.xtts.base_model import check_base_model, coqui_model_args, read_checkpoint, xtts_state
from tts_assets.xtts.config import COQUI_RATE, OUTPUT_RATE, BaseFiles, XttsVoiceConfig
from tts_assets.errors import TrainingDivergedError
from tts_assets.xtts.errors import XttsConfigError, XttsDataError

DIVERGED_REMEDY = "lower training.lr, keep training.mixed_precision off, or check the clips"

log = logging.getLogger(__name__)

CHECKPOINT_RE = re.compile(r"^checkpoint_(\d+)\.pth$")
BEST_LINK = "best_model.pth"
BEST_RECORD = "best.json"


def _import_coqui():
    """coqui's XTTS trainer modules; their import sets torch to one thread, which is undone."""
    threads = torch.get_num_threads()
    from TTS.tts.layers.xtts.trainer import dataset as _dataset  # noqa: F401  (sets 1 thread)
    from TTS.tts.layers.xtts.trainer.gpt_trainer import GPTArgs, GPTTrainer, GPTTrainerConfig

    torch.set_num_threads(threads)
    return GPTArgs, GPTTrainer, GPTTrainerConfig


# ---- checkpoints on disk ----
def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """`checkpoint_<step>.pth` files of a run, oldest first (temporary `.tmp` files never match)."""
    found = []
    if run_dir.is_dir():
        for path in run_dir.iterdir():
            match = CHECKPOINT_RE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return sorted(found)


def last_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1][1] if found else None


def voice_checkpoints(layout: DataLayout, voice: str) -> list[Path]:
    """Checkpoints of every run of the voice (the nightly schedule trains a folder per dataset, its
    steps counting from 0 again), oldest written first."""
    found = []
    models = paths.xtts_models_dir(layout, voice)
    for run in sorted(models.iterdir()) if models.is_dir() else []:
        for _, checkpoint in checkpoints(run) if run.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):  # pruned meanwhile
                found.append((checkpoint.stat().st_mtime, checkpoint))
    return [checkpoint for _, checkpoint in sorted(found)]


def newest_run_dir(layout: DataLayout, voice: str, default_run: str) -> Path:
    """The run folder holding the voice's most recently written checkpoint, else the default run's."""
    found = voice_checkpoints(layout, voice)
    return found[-1].parent if found else paths.run_dir(layout, voice, default_run)


def best_checkpoint(run_dir: Path) -> Path | None:
    path = run_dir / BEST_LINK
    return path if path.is_file() else None


def read_best(run_dir: Path) -> dict | None:
    path = run_dir / BEST_RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def checkpoint_info(path: Path) -> dict:
    """step, epoch and losses of a checkpoint, read memory-mapped (the weights are not loaded)."""
    checkpoint = read_checkpoint(path)
    return {"step": int(checkpoint["step"]), "epoch": int(checkpoint["epoch"]),
            "model_loss": checkpoint.get("model_loss")}


def prune_checkpoints(run_dir: Path, keep: int, protect: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` checkpoints (best_model.pth is a separate link), sparing
    `protect` (the one promoted for serving)."""
    removed = []
    for _, path in checkpoints(run_dir)[:-keep]:
        if protect is not None and path.resolve() == protect.resolve():
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _link_or_copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


# ---- results ----
@dataclass
class TrainResult:
    voice: str
    run_dir: Path
    step: int
    epoch: int
    epochs: int
    last_checkpoint: Path
    best_checkpoint: Path | None
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


# ---- the coqui config ----
def export_files(layout: DataLayout, voice: str) -> tuple[Path, Path]:
    return paths.metadata_train(layout, voice), paths.metadata_eval(layout, voice)


def _count_rows(csv_path: Path) -> int:
    with open(csv_path, encoding="utf-8") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)


def choose_reference(layout: DataLayout, config: XttsVoiceConfig) -> list[Path]:
    """The conditioning clips for samples: the config's, else the longest eval clips of the export
    (train clips when there is no eval split)."""
    if config.samples.reference:
        references = config.reference_paths(layout)
        missing = [str(p) for p in references if not p.is_file()]
        if missing:
            raise XttsConfigError(config.source, f"samples.reference: {', '.join(missing)} does not exist")
        return references
    manifest = paths.export_manifest(layout, config.voice)
    if not manifest.is_file():
        raise XttsDataError(manifest, f"no XTTS export for voice {config.voice!r}; run the export first")
    rows = list(read_jsonl(manifest))
    pool = [r for r in rows if r["split"] == "eval"] or rows
    if not pool:
        raise XttsDataError(manifest, "no exported clips to take a reference from")
    pool.sort(key=lambda r: (-r["samples"], r["audio_file"]))
    return [paths.export_dir(layout, config.voice) / r["audio_file"] for r in pool[: config.samples.reference_count]]


def build_trainer_config(config: XttsVoiceConfig, files: BaseFiles, layout: DataLayout, test_sentences: list[dict]):
    GPTArgs, _, GPTTrainerConfig = _import_coqui()
    from TTS.config.shared_configs import BaseDatasetConfig
    from TTS.tts.configs.xtts_config import XttsAudioConfig

    t = config.training
    run_dir = paths.run_dir(layout, config.voice, t.run_name)
    model_args = GPTArgs(
        **coqui_model_args(config),
        max_conditioning_length=int(t.max_conditioning_seconds * COQUI_RATE),
        min_conditioning_length=int(t.min_conditioning_seconds * COQUI_RATE),
        debug_loading_failures=True,  # a sample coqui still swaps is logged, not silent
        max_wav_length=config.export.max_samples,
        max_text_length=config.export.max_text_tokens,
        mel_norm_file=str(files.mel_stats),
        dvae_checkpoint=str(files.dvae),
        xtts_checkpoint="",  # loaded here read-only: coqui's loader may rewrite the hub file in place
        tokenizer_file=str(files.vocab),
        gpt_loss_text_ce_weight=t.text_ce_weight,
        gpt_loss_mel_ce_weight=t.mel_ce_weight,
    )
    dataset = BaseDatasetConfig(
        formatter="coqui", dataset_name=config.voice, path=str(paths.export_dir(layout, config.voice)),
        meta_file_train=paths.metadata_train(layout, config.voice).name,
        meta_file_val=paths.metadata_eval(layout, config.voice).name if t.run_eval else "",
        language=config.language,
    )
    return GPTTrainerConfig(
        output_path=str(run_dir.parent), run_name=t.run_name, project_name=f"xtts_{config.voice}",
        run_description=f"XTTS-v2 fine-tune of voice {config.voice} from {config.source}",
        dashboard_logger="tensorboard", model_args=model_args,
        audio=XttsAudioConfig(sample_rate=COQUI_RATE, dvae_sample_rate=COQUI_RATE, output_sample_rate=OUTPUT_RATE),
        batch_size=t.batch_size, eval_batch_size=t.eval_batch_size or t.batch_size,
        num_loader_workers=t.num_loader_workers, num_eval_loader_workers=t.num_loader_workers,
        epochs=t.epochs, print_step=t.print_step, plot_step=t.plot_step, log_model_step=t.save_step,
        save_step=t.save_step, save_n_checkpoints=t.keep_checkpoints, save_checkpoints=True, save_all_best=False,
        print_eval=False, run_eval=t.run_eval, test_delay_epochs=0,
        mixed_precision=t.mixed_precision, precision=t.precision, grad_clip=t.grad_clip,
        optimizer="AdamW", optimizer_wd_only_on_weights=True,
        optimizer_params={"betas": list(t.betas), "eps": 1e-8, "weight_decay": t.weight_decay},
        lr=t.lr, lr_scheduler="MultiStepLR", scheduler_after_epoch=False,
        lr_scheduler_params={"milestones": list(t.lr_milestones), "gamma": t.lr_gamma, "last_epoch": -1},
        training_seed=t.seed, datasets=[dataset], test_sentences=test_sentences,
    )


# ---- the trainer ----
def _finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return True


def _float(value) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean())
    if isinstance(value, (int, float)):
        return float(value)
    return None


LOSS_KEYS = ("loss", "loss_text_ce", "loss_mel_ce")


def _make_trainer_class():
    from trainer import Trainer
    from trainer.io import save_model

    class XttsTrainer(Trainer):
        """coqui's Trainer with guarded, atomic, pruned checkpoints and the voice's own resume."""

        def __init__(self, *args, voice_config: XttsVoiceConfig, progress: Callable[[str], None] | None,
                     protect: Path | None = None, **kwargs):
            self.voice_config = voice_config
            self.protect = protect  # the checkpoint promoted for serving: never pruned
            self.progress = progress
            self.step_losses: list[dict] = []
            self.step_times: list[float] = []
            self.last_good: Path | None = None
            super().__init__(*args, **kwargs)
            self.last_good = last_checkpoint(self.output_path)

        # The run folder is fixed (continue_path) and the checkpoint to restore chosen by the caller;
        # coqui's version would also overwrite the config with the folder's config.json.
        @staticmethod
        def init_training(args, coqpit_overrides, config=None):
            return config, ({"restore_path": args.restore_path} if args.restore_path else {})

        def save_training_script(self) -> None:
            source = self.voice_config.source
            if source.is_file():
                text = source.read_text(encoding="utf-8")
                write_text_atomic(self.output_path / "voice_config.yaml", text)
                self.dashboard_logger.add_text("voice-config", f"```\n{text}\n```", self.total_steps_done)

        def _restore_best_loss(self) -> None:
            best = read_best(self.output_path)
            if best:
                self.best_loss = {"train_loss": best.get("train_loss") or float("inf"),
                                  "eval_loss": best.get("eval_loss") if self.config.run_eval else None}

        # -- the NaN guard --
        def _compute_loss(self, batch, criterion, optimizer_idx):
            outputs, loss_dict = super()._compute_loss(batch, criterion, optimizer_idx)
            for key, value in (loss_dict or {}).items():
                if key.startswith("loss") and not _finite(value):
                    raise TrainingDivergedError(
                        self.output_path, self.total_steps_done, f"training {key} ({_float(value)})", self.last_good, DIVERGED_REMEDY)
            return outputs, loss_dict

        def eval_step(self, batch, step):
            outputs, loss_dict = super().eval_step(batch, step)
            for key, value in (loss_dict or {}).items():
                if key.startswith("loss") and not _finite(value):
                    raise TrainingDivergedError(
                        self.output_path, self.total_steps_done, f"eval {key} ({_float(value)})", self.last_good, DIVERGED_REMEDY)
            return outputs, loss_dict

        def optimize(self, *args, **kwargs):
            outputs, loss_dict, step_time = super().optimize(*args, **kwargs)
            # coqui divides the loss by grad_accum_steps for the backward pass and reports it so (its
            # multiply-back is commented out): report the loss itself, comparable with eval's.
            if loss_dict and "loss" in loss_dict:
                loss_dict["loss"] = loss_dict["loss"] * self.grad_accum_steps
            return outputs, loss_dict, step_time

        def train_step(self, batch, batch_n_steps, step, loader_start_time):
            started = time.perf_counter()
            step_index = self.total_steps_done
            outputs, loss_dict = super().train_step(batch, batch_n_steps, step, loader_start_time)
            self.step_times.append(time.perf_counter() - started)
            if loss_dict:
                record = {"step": step_index, **{k: _float(loss_dict[k]) for k in LOSS_KEYS if k in loss_dict}}
                self.step_losses.append(record)
                del self.step_losses[:-200]
                if step_index % self.config.print_step == 0:
                    line = (
                        f"{self.voice_config.voice}: step {step_index} (epoch {self.epochs_done + 1}/{self.config.epochs},"
                        f" batch {step + 1}/{batch_n_steps}): loss {record.get('loss', float('nan')):.4f} (text "
                        f"{record.get('loss_text_ce', float('nan')):.4f}, mel {record.get('loss_mel_ce', float('nan')):.4f}),"
                        f" {self.step_times[-1]:.2f} s/step"
                    )
                    log.info(line)
                    if self.progress:
                        self.progress(line)
            return outputs, loss_dict

        def _weights_finite(self) -> bool:
            return all(torch.isfinite(p.detach()).all() for p in self._get_model().xtts.gpt.parameters())

        def _save(self, step: int, epoch: int, model_loss: dict) -> Path:
            if not self._weights_finite():
                raise TrainingDivergedError(self.output_path, step, "a GPT weight", self.last_good, DIVERGED_REMEDY)
            target = self.output_path / f"checkpoint_{step}.pth"
            with atomic_path(target) as tmp:
                save_model(
                    self.config, self._get_model(), tmp, current_step=step, epoch=epoch, optimizer=self.optimizer,
                    scheduler=self.scheduler, scaler=self.scaler if self.use_amp_scaler else None,
                    model_loss=model_loss,
                )
            self.last_good = target
            removed = prune_checkpoints(self.output_path, self.config.save_n_checkpoints, self.protect)
            log.info("%s: checkpoint %s%s", self.voice_config.voice, target.name,
                     f" (pruned {', '.join(p.name for p in removed)})" if removed else "")
            return target

        def save_checkpoint(self) -> None:
            """Mid-epoch (every save_step): the epoch in progress is stored, so a resume repeats it."""
            self._save(self.total_steps_done, self.epochs_done, {
                "train_loss": self._pick_target_avg_loss(self.keep_avg_train),
                "eval_loss": self._pick_target_avg_loss(self.keep_avg_eval)})

        def save_best_model(self) -> None:
            """At each epoch's end: a checkpoint of the finished epoch, and best_model.pth when the
            target loss (eval, else train) improved."""
            eval_loss = self._pick_target_avg_loss(self.keep_avg_eval)
            train_loss = self._pick_target_avg_loss(self.keep_avg_train)
            losses = {"train_loss": train_loss, "eval_loss": eval_loss}
            target = self._save(max(self.total_steps_done - 1, 0), self.epochs_done + 1, losses)
            current = eval_loss if eval_loss is not None else train_loss
            best = read_best(self.output_path)
            previous = None if best is None else best.get("target_loss")
            if current is not None and (previous is None or current < previous):
                _link_or_copy(target, self.output_path / BEST_LINK)
                record = {"checkpoint": target.name, "step": max(self.total_steps_done - 1, 0),
                          "epoch": self.epochs_done + 1, "target_loss": current, **losses}
                write_text_atomic(self.output_path / BEST_RECORD, json.dumps(record, indent=2) + "\n")
                self.best_loss = losses

    return XttsTrainer


def _apply_lr(trainer, lr: float) -> float | None:
    """A resumed optimizer keeps the checkpoint's lr; the YAML's lr wins (returns the old one)."""
    old = None
    for optimizer in trainer.optimizer:
        for group in optimizer.param_groups:
            if not math.isclose(group.get("initial_lr", group["lr"]), lr, rel_tol=1e-9):
                old = group.get("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] = lr
    if old is not None:
        for scheduler in trainer.scheduler:
            if scheduler is not None and hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs = [lr for _ in scheduler.base_lrs]
    return old


def _check_resume(model, checkpoint_path: Path, config: XttsVoiceConfig) -> None:
    """The run folder's checkpoint must fit the model the config builds (coqui would fall back to a
    silent partial load)."""
    saved = read_checkpoint(checkpoint_path)["model"]
    ours = model.state_dict()
    differ = [k for k in ours if k not in saved or tuple(saved[k].shape) != tuple(ours[k].shape)]
    if differ:
        raise XttsConfigError(
            checkpoint_path,
            f"was trained with other settings than {config.source} ({differ[0]} differs, {len(differ)} tensors); "
            "set a new training.run_name to start a new run",
        )


def _load_base_weights(model, checkpoint: dict, path: Path) -> None:
    """What GPTTrainer does with `xtts_checkpoint` (strict=False), but read-only and with every GPT
    and decoder tensor accounted for."""
    state = xtts_state(checkpoint)
    result = model.xtts.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k.startswith(("gpt.", "hifigan_decoder.")) and
               not k.startswith(("gpt.gpt_inference.", "gpt.gpt.wte."))]
    if missing:
        raise XttsConfigError(path, f"lacks {len(missing)} model tensors (e.g. {missing[0]})")


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
    """Fine-tune the voice's GPT until `training.epochs` are done, resuming the run folder's newest
    checkpoint. Raises XttsConfigError / XttsDataError before any work, TrainingDivergedError on NaN."""
    started = time.perf_counter()
    voice, t = config.voice, config.training
    warnings = [w for w in (config.effective_batch_warning(), config.mixed_precision_warning()) if w]
    for warning in warnings:
        log.warning("%s: %s", voice, warning)
        if progress:
            progress(f"warning: {warning}")
    files, base = check_base_model(config, layout)
    train_csv, eval_csv = export_files(layout, voice)
    if not train_csv.is_file():
        raise XttsDataError(train_csv, f"no XTTS export for voice {voice!r}; export the dataset first")
    if _count_rows(train_csv) == 0:
        raise XttsDataError(train_csv, "no training clips (see rejections.jsonl beside it)")
    if t.run_eval and (not eval_csv.is_file() or _count_rows(eval_csv) == 0):
        raise XttsDataError(
            eval_csv, "no eval clips: raise dataset quality.val_fraction and re-align, or set training.run_eval: false")

    run_dir = paths.run_dir(layout, voice, t.run_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in run_dir.glob(".*.tmp"):  # a save cut short by a kill (never a real checkpoint)
        leftover.unlink()
    resume = last_checkpoint(run_dir)
    resumed_info = checkpoint_info(resume) if resume else None
    if resumed_info and resumed_info["epoch"] >= t.epochs:
        best = read_best(run_dir) or {}
        result = TrainResult(
            voice=voice, run_dir=run_dir, step=resumed_info["step"], epoch=resumed_info["epoch"], epochs=t.epochs,
            last_checkpoint=resume, best_checkpoint=best_checkpoint(run_dir), resumed_from=resume,
            resumed_step=resumed_info["step"], best_loss=best.get("target_loss"),
            train_loss=(resumed_info["model_loss"] or {}).get("train_loss"),
            eval_loss=(resumed_info["model_loss"] or {}).get("eval_loss"), warnings=warnings, already_done=True,
        )
        log.info("%s: %s already has %d of %d epochs (%s); nothing to train", voice, run_dir, result.epoch,
                 t.epochs, resume.name)
        _write_summary(layout, config, result, "done")
        return result

    from trainer import TrainerArgs

    from TTS.tts.datasets import load_tts_samples

    _, GPTTrainer, _ = _import_coqui()
    test_sentences = []
    if t.tensorboard_audio:
        references = [str(p) for p in choose_reference(layout, config)]
        test_sentences = [{"text": s, "speaker_wav": references, "language": config.language}
                          for s in config.samples.sentences]
    coqui_config = build_trainer_config(config, files, layout, test_sentences)
    model = GPTTrainer(coqui_config)  # = GPTTrainer.init_from_config, deprecated in coqui-tts 0.28
    if resume:
        _check_resume(model, resume, config)
        log.info("%s: resuming %s from %s (step %d, epoch %d)", voice, run_dir, resume.name,
                 resumed_info["step"], resumed_info["epoch"])
    else:
        _load_base_weights(model, base, files.model)
        log.info("%s: new run %s from %s", voice, run_dir, files.model)
    del base
    train_samples, eval_samples = load_tts_samples(coqui_config, eval_split=t.run_eval)
    args = TrainerArgs(
        continue_path=str(run_dir), restore_path=str(resume) if resume else "",
        best_path="", grad_accum_steps=t.grad_accum_steps, gpu=t.gpu,
    )
    trainer_class = _make_trainer_class()
    trainer_logger = logging.getLogger("trainer")
    handlers_before = list(trainer_logger.handlers)
    status = "failed"
    trainer = None
    try:
        trainer = trainer_class(
            args, coqui_config, output_path=str(run_dir), model=model, train_samples=train_samples,
            eval_samples=eval_samples, parse_command_line_args=False, voice_config=config, progress=progress,
            protect=Path(promoted["path"]) if (promoted := read_promoted(layout, voice, "xtts")) else None,
        )
        if resume:
            old_lr = _apply_lr(trainer, t.lr)
            if old_lr is not None:
                log.warning("%s: training.lr changed from %g to %g since the checkpoint: using %g", voice, old_lr,
                            t.lr, t.lr)
        log.info("%s: training from step %d to epoch %d", voice, trainer.total_steps_done, t.epochs)
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
            info = checkpoint_info(last) if last else {"step": 0, "epoch": 0, "model_loss": {}}
            losses = info.get("model_loss") or {}
            best = read_best(run_dir) or {}
            result = TrainResult(
                voice=voice, run_dir=run_dir, step=info["step"], epoch=info["epoch"], epochs=t.epochs,
                last_checkpoint=last, best_checkpoint=best_checkpoint(run_dir), resumed_from=resume,
                resumed_step=resumed_info["step"] if resumed_info else None,
                steps_this_run=len(trainer.step_times),
                train_loss=losses.get("train_loss"), eval_loss=losses.get("eval_loss"),
                best_loss=best.get("target_loss"),
                median_step_s=round(statistics.median(trainer.step_times), 4) if trainer.step_times else None,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, peak_gpu_mb=_peak_gpu_mb(),
                device="cuda" if trainer.use_cuda else "cpu", warnings=warnings, losses=list(trainer.step_losses),
                wall_s=round(time.perf_counter() - started, 2),
            )
            _write_summary(layout, config, result, status)
    log.info("%s: trained to step %d, epoch %d/%d; last %s, best %s", voice, result.step, result.epoch, t.epochs,
             result.last_checkpoint.name if result.last_checkpoint else None,
             result.best_checkpoint.name if result.best_checkpoint else None)
    return result

"""coqui's `Trainer` with what this project adds: a NaN/inf guard before every backward pass and
save, atomic and pruned checkpoints, the voice's own resume (its lr, a checkpoint that must fit
the config), the loss reported as itself, optimizer steps counted, logged and stored in every
checkpoint, and checkpoints spaced by `save_step` batches rather than one per epoch.

coqui saves a checkpoint every `save_step` batches and at every epoch's end. A run sized in
optimizer steps gives a small dataset hundreds of short epochs, and an XTTS checkpoint with its
optimizer state is ~5 GB: here an epoch of at most `save_step` batches is never saved mid-way, and an
epoch's end is saved (and speaks the test sentences into TensorBoard) once `save_step` batches have
passed since the last epoch-end checkpoint, and always at the run's last epoch. Epochs longer than
`save_step` batches are saved as coqui does: every `save_step` batches and at every epoch's end."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from tts_assets.atomic import atomic_path, write_text_atomic
from tts_assets.errors import TrainingDivergedError
from tts_assets.xtts.base_model import read_checkpoint, xtts_state
from tts_assets.xtts.checkpoint import BEST_LINK, BEST_RECORD, last_checkpoint, link_or_copy, prune_checkpoints, read_best
from tts_assets.xtts.config import XttsVoiceConfig
from tts_assets.xtts.errors import XttsConfigError

log = logging.getLogger(__name__)

DIVERGED_REMEDY = "lower training.lr, keep training.mixed_precision off, or check the clips"


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


def make_trainer_class():
    from trainer import Trainer
    from trainer.io import save_model

    class XttsTrainer(Trainer):
        """coqui's Trainer with guarded, atomic, pruned checkpoints and the voice's own resume."""

        def __init__(self, *args, voice_config: XttsVoiceConfig, progress: Callable[[str], None] | None,
                     protect: Path | None = None, optimizer_steps: int = 0, total_optimizer_steps: int | None = None,
                     **kwargs):
            self.voice_config = voice_config
            self.protect = protect  # the checkpoint promoted for serving: never pruned
            self.progress = progress
            self.step_losses: list[dict] = []
            self.step_times: list[float] = []
            self.last_good: Path | None = None
            self.optimizer_steps = optimizer_steps  # done, the resumed checkpoint's included
            self.total_optimizer_steps = total_optimizer_steps  # the run's plan
            super().__init__(*args, **kwargs)
            self.last_good = last_checkpoint(self.output_path)
            self.last_epoch_end = self.total_steps_done  # batches done at the last epoch-end checkpoint

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
            if loss_dict and kwargs.get("step_optimizer", True):  # coqui's own test: its optimizer stepped
                self.optimizer_steps += 1
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
                        f" batch {step + 1}/{batch_n_steps}, optimizer step {self.optimizer_steps}/"
                        f"{self.total_optimizer_steps}): loss {record.get('loss', float('nan')):.4f} (text "
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
                    model_loss=model_loss, optimizer_steps=self.optimizer_steps,
                )
            self.last_good = target
            removed = prune_checkpoints(self.output_path, self.config.save_n_checkpoints, self.protect)
            log.info("%s: checkpoint %s%s", self.voice_config.voice, target.name,
                     f" (pruned {', '.join(p.name for p in removed)})" if removed else "")
            return target

        def _epoch_end_due(self) -> bool:
            """Whether this epoch's end is saved: the run's last epoch, or save_step batches since the
            last epoch-end checkpoint (every epoch's end when epochs are longer than save_step)."""
            return (self.epochs_done + 1 >= self.config.epochs
                    or self.total_steps_done - self.last_epoch_end >= self.config.save_step)

        def save_checkpoint(self) -> None:
            """Mid-epoch (every save_step batches, in epochs longer than that): the epoch in progress
            is stored, so a resume repeats it."""
            if self.train_loader is not None and len(self.train_loader) <= self.config.save_step:
                return  # a short epoch: saved at its end (_epoch_end_due)
            self._save(self.total_steps_done, self.epochs_done, {
                "train_loss": self._pick_target_avg_loss(self.keep_avg_train),
                "eval_loss": self._pick_target_avg_loss(self.keep_avg_eval)})

        def test_run(self) -> None:
            """The test sentences into TensorBoard, at the epochs whose end is saved."""
            if self._epoch_end_due():
                super().test_run()

        def save_best_model(self) -> None:
            """At an epoch's end (when _epoch_end_due): a checkpoint of the finished epoch, and
            best_model.pth when the target loss (eval, else train) improved."""
            if not self._epoch_end_due():
                return
            self.last_epoch_end = self.total_steps_done
            eval_loss = self._pick_target_avg_loss(self.keep_avg_eval)
            train_loss = self._pick_target_avg_loss(self.keep_avg_train)
            losses = {"train_loss": train_loss, "eval_loss": eval_loss}
            target = self._save(max(self.total_steps_done - 1, 0), self.epochs_done + 1, losses)
            current = eval_loss if eval_loss is not None else train_loss
            best = read_best(self.output_path)
            previous = None if best is None else best.get("target_loss")
            if current is not None and (previous is None or current < previous):
                link_or_copy(target, self.output_path / BEST_LINK)
                record = {"checkpoint": target.name, "step": max(self.total_steps_done - 1, 0),
                          "epoch": self.epochs_done + 1, "target_loss": current, **losses}
                write_text_atomic(self.output_path / BEST_RECORD, json.dumps(record, indent=2) + "\n")
                self.best_loss = losses

    return XttsTrainer


def apply_lr(trainer, lr: float) -> float | None:
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


def check_resume(model, checkpoint_path: Path, config: XttsVoiceConfig) -> None:
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


def load_base_weights(model, checkpoint: dict, path: Path) -> None:
    """What GPTTrainer does with `xtts_checkpoint` (strict=False), but read-only and with every GPT
    and decoder tensor accounted for."""
    state = xtts_state(checkpoint)
    result = model.xtts.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k.startswith(("gpt.", "hifigan_decoder.")) and
               not k.startswith(("gpt.gpt_inference.", "gpt.gpt.wte."))]
    if missing:
        raise XttsConfigError(path, f"lacks {len(missing)} model tensors (e.g. {missing[0]})")

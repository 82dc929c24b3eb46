"""How long an XTTS run trains: `training.steps` optimizer steps, turned into epochs for the size of
the export, counted the way coqui's Trainer counts them.

coqui's `Trainer.train_step` steps the optimizer after every `grad_accum_steps` batches of an epoch
*and* after the epoch's last batch (`(step + 1) % grad_accum_steps == 0 or step + 1 == batch_n_steps`),
so a partial accumulation group at an epoch's end is an optimizer step of its own, and an epoch has
`ceil(batches / grad_accum_steps)` of them; `GPTTrainer`'s loader keeps its last, short batch
(`drop_last=False`), so an epoch has `ceil(clips / batch_size)` batches. Together that is
`ceil(clips / (batch_size * grad_accum_steps))` optimizer steps per epoch.

Pure: no coqui import, no files (`coqui_config.training_plan` counts the export's clips).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tts_assets.xtts.config import DEFAULT_OPTIMIZER_STEPS, MIN_OPTIMIZER_STEPS, TrainingSettings


@dataclass(frozen=True)
class TrainingPlan:
    train_clips: int
    eval_clips: int
    batch_size: int
    grad_accum_steps: int
    batches_per_epoch: int
    steps_per_epoch: int  # optimizer steps per epoch
    epochs: int
    total_steps: int  # optimizer steps of the whole run (epochs x steps_per_epoch)
    target_steps: int | None  # the training.steps the epochs come from; None: training.epochs was set
    run_eval: bool  # training.run_eval
    evaluate: bool  # an evaluation on metadata_eval.csv after every epoch
    evaluation: str  # what the run evaluates on, in words

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum_steps

    @property
    def epochs_from(self) -> str:
        return "training.steps" if self.target_steps is not None else "training.epochs"

    def steps_warning(self) -> str | None:
        if self.total_steps >= MIN_OPTIMIZER_STEPS:
            return None
        remedy = ("raise training.steps" if self.target_steps is not None else
                  f"raise training.epochs, or remove it to train training.steps ({DEFAULT_OPTIMIZER_STEPS} by default)")
        return (
            f"{self.total_steps} optimizer steps in total ({self.epochs} epochs x {self.steps_per_epoch} of "
            f"{self.effective_batch} clips) is below the minimum of {MIN_OPTIMIZER_STEPS} for an XTTS fine-tune: "
            f"the voice will barely move from the base model; {remedy}"
        )

    def evaluation_warning(self) -> str | None:
        """A run that would evaluate but has nothing to evaluate on (not one set `run_eval: false`)."""
        return self.evaluation if self.run_eval and not self.evaluate else None

    def warnings(self) -> list[str]:
        return [w for w in (self.steps_warning(), self.evaluation_warning()) if w]

    def describe(self) -> str:
        """The plan, as the run's first log line."""
        if self.target_steps is not None:
            source = f"from training.steps {self.target_steps}"
        else:
            source = "from training.epochs (training.steps is not used when training.epochs is set)"
        return (
            f"{self.train_clips} training clips, batch {self.batch_size} x accumulation {self.grad_accum_steps} = "
            f"effective batch {self.effective_batch}; {self.batches_per_epoch} batches = {self.steps_per_epoch} "
            f"optimizer steps per epoch; {self.epochs} epochs {source} = {self.total_steps} optimizer steps in total; "
            f"{self.evaluation}"
        )


def steps_per_epoch(train_clips: int, batch_size: int, grad_accum_steps: int) -> tuple[int, int]:
    """(batches, optimizer steps) of one epoch, as coqui's Trainer runs them."""
    batches = math.ceil(train_clips / batch_size)
    return batches, math.ceil(batches / grad_accum_steps)


def plan_training(training: TrainingSettings, train_clips: int, eval_clips: int = 0) -> TrainingPlan:
    """Epochs for `training.steps` optimizer steps on `train_clips` clips (at least that many steps:
    whole epochs are trained), unless `training.epochs` is set, which wins. Evaluation runs when
    `training.run_eval` is on and there is a validation clip; without one the run trains without it."""
    if train_clips < 1:
        raise ValueError("no training clips to plan a run for")
    batches, per_epoch = steps_per_epoch(train_clips, training.batch_size, training.grad_accum_steps)
    if training.epochs is not None:
        epochs, target = training.epochs, None
    else:
        epochs, target = math.ceil(training.steps / per_epoch), training.steps
    evaluate = training.run_eval and eval_clips > 0
    if evaluate:
        evaluation = f"evaluating on {eval_clips} validation clips after every epoch"
    elif not training.run_eval:
        evaluation = "no evaluation (training.run_eval is false)"
    else:
        evaluation = (
            "no validation clips (metadata_eval.csv is empty): training without evaluation; best_model.pth is "
            "the epoch-end checkpoint of lowest training loss. Raise the dataset's quality.val_fraction and "
            "re-align to evaluate"
        )
    return TrainingPlan(
        train_clips=train_clips, eval_clips=eval_clips, batch_size=training.batch_size,
        grad_accum_steps=training.grad_accum_steps, batches_per_epoch=batches, steps_per_epoch=per_epoch,
        epochs=epochs, total_steps=epochs * per_epoch, target_steps=target, run_eval=training.run_eval,
        evaluate=evaluate, evaluation=evaluation,
    )

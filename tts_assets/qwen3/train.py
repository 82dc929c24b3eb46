"""Supervised fine-tuning of a Qwen3-TTS base model on one voice's audio codes.

fp32 master weights with bf16 autocast on a GPU (fp32 on the CPU): bf16 weights with plain AdamW
barely move at lr 2e-6. Or, with `qwen3.weights: bfloat16`, bf16 weights with Kahan-compensated
AdamW, which keeps those updates in 10 bytes a parameter instead of 16. Gradient accumulation,
clipping, linear warm-up then cosine decay, validation loss each epoch, TensorBoard scalars,
resumable checkpoints. With `qwen3.gpus: N`, N processes train together (`tts_assets.qwen3.distributed`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from tts_assets.errors import InputFileError, TrainingDivergedError
from tts_assets.models.promotion import read_promoted
from tts_assets.models.trained_on import dataset_fingerprint, record_trained
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.qwen3 import distributed
from tts_assets.qwen3.batch import Example, TargetCounts, collate, target_counts
from tts_assets.qwen3.checkpoint import (checkpoint_bytes, checkpoints, load_training_state, recover, retire_older,
                                         save_checkpoint)
from tts_assets.qwen3.codes import QWEN3_RATE, load_24k
from tts_assets.qwen3.loss import compute_losses
from tts_assets.qwen3.model import (
    load_for_training, load_text_processor, local_folder, resolve_device, training_optimizer,
)
from tts_assets.qwen3.paths import codes_manifest, codes_store, run_dir
from tts_assets.settings import Qwen3Settings

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    checkpoint: Path
    step: int
    resumed_from_step: int | None
    plan: "TrainingPlan | None" = None
    train_losses: list[float] = field(default_factory=list)  # per optimizer step
    learning_rates: list[float] = field(default_factory=list)  # per optimizer step
    val_losses: list[float] = field(default_factory=list)  # per epoch; none without validation clips


@dataclass(frozen=True)
class TrainingPlan:
    """What a run will do, in the units a user sets and reads: clips an optimizer step, steps."""

    clips: int
    validation_clips: int
    effective_batch: int  # batch_size × gpus × grad_accum
    steps_per_epoch: int
    steps: int  # optimizer steps of this round's schedule (warm-up, then cosine to zero)

    def summary(self) -> dict:
        return self.__dict__.copy()


def build_examples(rows: list[dict], store: dict, processor) -> list[Example]:
    examples = []
    for row in rows:
        chat = f"<|im_start|>assistant\n{row['text']}<|im_end|>\n<|im_start|>assistant\n"
        ids = processor(text=chat, return_tensors="pt")["input_ids"][0][:-5]
        start, end = store["offsets"][row["codes_index"]], store["offsets"][row["codes_index"] + 1]
        examples.append(Example(ids.long(), torch.from_numpy(store["codes"][start:end].astype(np.int64))))
    return examples


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def steps_for(clips: int, batch_size: int, grad_accum: int) -> int:
    """Optimizer steps over `clips` clips: a short last group of an epoch is a step of its own."""
    return math.ceil(math.ceil(clips / batch_size) / grad_accum)


def _speaker_embeddings(model, rows: list[dict], device: str) -> dict[str, torch.Tensor]:
    """One embedding per distinct reference clip, computed alone (never padded into a batch)."""
    return {
        ref: model.extract_speaker_embedding(load_24k(Path(ref)), QWEN3_RATE).detach().float().to(device)
        for ref in sorted({r["ref_audio"] for r in rows})
    }


@dataclass
class Position:
    """Where a run stands: optimizer steps done, the epoch, clips of its order done, and the step
    at which the schedule of this round (all epochs over one version of the data) began."""

    step: int = 0
    epoch: int = 0
    clips_done: int = 0
    round_start: int = 0
    resumed_from: int | None = None


def _read_rows(layout: DataLayout, voice: str) -> tuple[list[dict], list[dict], list[dict]]:
    """All rows of the codes manifest, its train rows and its validation rows."""
    manifest = codes_manifest(layout, voice)
    if not manifest.is_file():
        raise InputFileError(manifest, "no audio-code manifest; run `tts-assets convert-qwen3` first")
    rows = list(read_jsonl(manifest))
    train_rows = [r for r in rows if r["split"] == "train"]
    if not train_rows:
        raise InputFileError(manifest, "no training clips")
    return rows, train_rows, [r for r in rows if r["split"] == "val"]


RESUMED_SETTINGS = ("batch_size", "gpus", "grad_accum", "epochs", "lr", "warmup_steps", "weights")


def _resume(previous: list[Path], optimizer, settings: Qwen3Settings, fingerprint: str | None,
            voice: str) -> Position:
    """The position of the newest checkpoint. Unchanged data: the run goes on where it stopped
    (optimizer, RNG, the clip of the epoch's order it reached), under the settings given now: the
    schedule is rebuilt for the steps that remain and the learning rate comes from `qwen3.lr`
    each step. New data: a new round of all epochs from its weights, steps counting on."""
    if not previous:
        return Position()
    state = load_training_state(previous[-1])
    if state.get("dataset_fingerprint") != fingerprint:
        log.info("%s: dataset changed since %s: training again from its weights", voice, previous[-1].name)
        return Position(step=state["step"], round_start=state["step"])
    before = state["settings"]
    changed = {k: (before.get(k), getattr(settings, k)) for k in RESUMED_SETTINGS if before.get(k) != getattr(settings, k)}
    for name, (was, now) in changed.items():
        log.warning("%s: qwen3.%s was %s, is %s: continuing from step %d with the new value", voice, name, was, now,
                    state["step"])
    if "optimizer" not in state:  # the newest was deleted by hand: an older, servable one is left
        log.warning("%s: %s holds servable weights only: training goes on from them with a fresh optimizer",
                    voice, previous[-1].name)
    elif "weights" in changed:  # the other optimizer's state does not fit this one
        log.warning("%s: qwen3.weights is now %s: the optimizer state starts afresh", voice, settings.weights)
    else:
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
    # Checkpoints before clips_done counted micro-batches of their own batch size.
    clips_done = state.get("clips_done", state.get("micro_done", 0) * before["batch_size"])
    log.info("%s: resuming from %s (step %d, epoch %d, clip %d)", voice, previous[-1].name, state["step"],
             state["epoch"], clips_done)
    return Position(state["step"], state["epoch"], clips_done, state.get("round_start", 0), resumed_from=state["step"])


def training_plan(at: Position, settings: Qwen3Settings, clips: int, validation_clips: int) -> TrainingPlan:
    """This round's schedule: the steps done in it plus those the remaining clips take now."""
    global_batch = settings.batch_size * settings.gpus
    per_epoch = steps_for(clips, global_batch, settings.grad_accum)
    remaining = 0
    if at.epoch < settings.epochs:
        remaining = steps_for(clips - at.clips_done, global_batch, settings.grad_accum)
        remaining += per_epoch * (settings.epochs - at.epoch - 1)
    return TrainingPlan(clips, validation_clips, global_batch * settings.grad_accum, per_epoch,
                        at.step - at.round_start + remaining)


def _autocast(device: str, weights: str):
    """bf16 autocast on a GPU; on a CPU only around bf16 weights (fp32 inputs meet them there)."""
    if device.startswith("cuda") or weights == "bfloat16":
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _log_step(writer, step: int, losses: torch.Tensor, lr: float, grad_norm) -> float:
    total, talker_loss, sub_talker_loss = losses.tolist()
    if writer is not None:  # None: not the process that writes TensorBoard
        writer.add_scalar("train/loss", total, step)
        writer.add_scalar("train/talker_loss", talker_loss, step)
        writer.add_scalar("train/sub_talker_loss", sub_talker_loss, step)
        writer.add_scalar("train/lr", lr, step)
        writer.add_scalar("train/grad_norm", float(grad_norm), step)
    return total


def _step_targets(examples: list[Example], batches: list[list[int]], micro: int, grad_accum: int) -> TargetCounts:
    """The targets of the whole optimizer step `micro` belongs to (a short last one of the epoch too),
    over every process: each micro-batch's loss is its share of the step's mean."""
    start = micro - micro % grad_accum
    return target_counts([examples[i] for batch in batches[start : start + grad_accum] for i in batch])


def train_voice(layout: DataLayout, voice: str, settings: Qwen3Settings, max_steps: int = 0) -> TrainResult:
    """Train (or resume) the voice's Qwen3 model; returns the last checkpoint written.

    `max_steps` stops after that many optimizer steps in total (0: run all epochs).
    """
    if settings.gpus > 1 and not distributed.in_a_worker():
        return distributed.launch(train_voice, (layout, voice, settings, max_steps), settings.gpus,
                                  resolve_device(settings.device))
    from torch.utils.tensorboard import SummaryWriter

    ranks = distributed.ranks()
    rows, train_rows, val_rows = _read_rows(layout, voice)
    device = resolve_device(settings.device)
    base = local_folder(settings.base_model)
    run = run_dir(layout, voice)
    if run.is_dir() and ranks.is_main:
        recover(run)
    distributed.barrier()  # every process starts from the same checkpoint, recovered once
    previous = checkpoints(run)
    model = load_for_training(previous[-1] if previous else base, device, settings.weights)
    processor = load_text_processor(base)
    store = dict(np.load(codes_store(layout, voice)))
    train_examples = build_examples(train_rows, store, processor)
    val_examples = build_examples(val_rows, store, processor)
    speakers = _speaker_embeddings(model, rows, device)

    trainable = [p for n, p in model.named_parameters() if not n.startswith("speaker_encoder")]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not name.startswith("speaker_encoder"))
    optimizer = training_optimizer(trainable, settings.weights, settings.lr, settings.weight_decay)
    fingerprint = dataset_fingerprint(layout, voice)
    at = _resume(previous, optimizer, settings, fingerprint, voice)
    plan = training_plan(at, settings, len(train_examples), len(val_examples))
    if ranks.is_main:
        _announce(voice, plan, settings)
    autocast = _autocast(device, settings.weights)
    writer = SummaryWriter(str(run / "tensorboard")) if ranks.is_main else None
    result = TrainResult(previous[-1] if previous else base, at.step, at.resumed_from, plan)

    def speaker_for(batch_rows: list[dict]) -> torch.Tensor:
        return torch.stack([speakers[r["ref_audio"]] for r in batch_rows])

    def save() -> None:
        if ranks.is_main:  # one checkpoint for all processes
            write_checkpoint()
        distributed.barrier()  # the others go on once it is whole

    def write_checkpoint() -> Path:
        state = {
            "optimizer": optimizer.state_dict(), "step": at.step, "epoch": at.epoch, "clips_done": at.clips_done,
            "round_start": at.round_start, "torch_rng": torch.get_rng_state(), "settings": settings.model_dump(),
            "dataset_fingerprint": fingerprint,
        }
        speaker = speakers[train_rows[0]["ref_audio"]]
        path = save_checkpoint(model, base, run / f"checkpoint-{at.step}", voice, speaker, state)
        promoted = read_promoted(layout, voice, "qwen3")
        retire_older(run, settings.keep_checkpoints, Path(promoted["path"]) if promoted else None)
        log.info("%s: saved %s (bytes: %s)", voice, path.name, checkpoint_bytes(path))
        result.checkpoint = path
        return path

    model.train()
    started = time.monotonic()
    group = torch.zeros(3)  # total, talker, sub-talker loss of the optimizer step being accumulated
    while at.epoch < settings.epochs:
        order = list(range(len(train_examples)))
        random.Random(settings.seed + at.epoch).shuffle(order)
        # From the clip the run reached: a resumed run takes the rest of the epoch's order, in
        # global batches (batch_size on each process) of the settings it has now.
        rest = order[at.clips_done:]
        global_batch = settings.batch_size * ranks.world
        batches = [rest[i : i + global_batch] for i in range(0, len(rest), global_batch)]
        for micro, global_indices in enumerate(batches):
            indices = distributed.shard(global_indices, ranks)
            if indices:  # a short last micro-batch of the epoch may leave a process none
                batch = collate([train_examples[i] for i in indices], model.config).to(device)
                with autocast:
                    losses = compute_losses(model, batch, speaker_for([train_rows[i] for i in indices]),
                                            settings.sub_talker_weight,
                                            per=_step_targets(train_examples, batches, micro, settings.grad_accum))
                if not torch.isfinite(losses.total):
                    raise TrainingDivergedError(run, at.step, f"the loss ({losses.total.item()})", result.checkpoint,
                                                f"lower qwen3.lr ({settings.lr}) or check the clips")
                losses.total.backward()
                group += torch.stack([losses.total, losses.talker, losses.sub_talker]).detach().float().cpu()
            at.clips_done += len(global_indices)
            if (micro + 1) % settings.grad_accum and micro != len(batches) - 1:
                continue
            distributed.sum_gradients(trainable)
            distributed.sum_across_ranks(group)
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            lr = settings.lr * lr_factor(at.step - at.round_start, settings.warmup_steps, plan.steps)
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            at.step += 1
            result.step = at.step
            total = _log_step(writer, at.step, group, lr, grad_norm)
            group.zero_()
            result.train_losses.append(total)
            result.learning_rates.append(lr)
            if ranks.is_main and (at.step % 10 == 0 or at.step == 1):
                log.info("%s: step %d/%d epoch %d loss %.4f (%.1f s)", voice, at.step, at.round_start + plan.steps,
                         at.epoch, total, time.monotonic() - started)
            done = max_steps and at.step >= max_steps
            if at.clips_done == len(order):  # the epoch is complete: its checkpoint comes below
                break
            if (settings.save_every_steps and at.step % settings.save_every_steps == 0) or done:
                save()
            if done:
                if writer is not None:
                    writer.close()
                return result
        at.clips_done = 0
        at.epoch += 1
        if val_examples:
            result.val_losses.append(evaluate(model, val_examples, val_rows, speaker_for, settings, autocast, device))
            if ranks.is_main:  # every process evaluates (the same weights), so none waits for another
                writer.add_scalar("val/loss", result.val_losses[-1], at.step)
                log.info("%s: epoch %d validation loss %.4f", voice, at.epoch, result.val_losses[-1])
        save()
        if max_steps and at.step >= max_steps:
            break
    if writer is not None:
        writer.close()
    # Only a run through all its epochs counts as trained on this data (a stopped one is resumed).
    if ranks.is_main and at.epoch >= settings.epochs:
        record_trained(run, fingerprint, result.checkpoint, at.step)
    return result


def _announce(voice: str, plan: TrainingPlan, settings: Qwen3Settings) -> None:
    log.info("%s: %d clips, %d x %d = %d clips an optimizer step, %d steps an epoch, %d steps in this round",
             voice, plan.clips, settings.batch_size, settings.grad_accum, plan.effective_batch, plan.steps_per_epoch,
             plan.steps)
    if plan.steps <= settings.warmup_steps:
        log.warning("%s: only %d optimizer steps: the learning rate never leaves its %d-step warm-up; lower "
                    "qwen3.grad_accum or raise qwen3.epochs", voice, plan.steps, settings.warmup_steps)
    if not plan.validation_clips:
        log.warning("%s: no validation clips: training without a validation loss (dataset quality.val_fraction "
                    "sets the share)", voice)


@torch.no_grad()
def evaluate(model, examples, rows, speaker_for, settings: Qwen3Settings, autocast, device) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), settings.batch_size):
        chunk = list(range(start, min(start + settings.batch_size, len(examples))))
        batch = collate([examples[i] for i in chunk], model.config).to(device)
        with autocast:
            losses = compute_losses(model, batch, speaker_for([rows[i] for i in chunk]), settings.sub_talker_weight)
        total += losses.total.item() * len(chunk)
        count += len(chunk)
    model.train()
    return total / count

"""Supervised fine-tuning of a Qwen3-TTS base model on one voice's audio codes.

fp32 master weights with bf16 autocast on a GPU (fp32 on the CPU): bf16 weights with plain AdamW
barely move at lr 2e-6. Or, with `qwen3.weights: bfloat16`, bf16 weights with Kahan-compensated
AdamW, which keeps those updates in 10 bytes a parameter instead of 16. Gradient accumulation,
clipping, linear warm-up then cosine decay, validation loss each epoch, TensorBoard scalars,
resumable checkpoints.
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
from tts_assets.qwen3.batch import Example, collate
from tts_assets.qwen3.checkpoint import (checkpoint_bytes, checkpoints, load_training_state, recover, retire_older,
                                         save_checkpoint)
from tts_assets.qwen3.codes import QWEN3_RATE, load_24k
from tts_assets.qwen3.loss import compute_losses
from tts_assets.qwen3.model import load_for_training, local_folder, resolve_device, training_optimizer
from tts_assets.qwen3.paths import codes_manifest, codes_store, run_dir
from tts_assets.settings import Qwen3Settings

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    checkpoint: Path
    step: int
    resumed_from_step: int | None
    train_losses: list[float] = field(default_factory=list)  # per optimizer step
    val_losses: list[float] = field(default_factory=list)  # per epoch


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


def _speaker_embeddings(model, rows: list[dict], device: str) -> dict[str, torch.Tensor]:
    """One embedding per distinct reference clip, computed alone (never padded into a batch)."""
    return {
        ref: model.extract_speaker_embedding(load_24k(Path(ref)), QWEN3_RATE).detach().float().to(device)
        for ref in sorted({r["ref_audio"] for r in rows})
    }


@dataclass
class _Position:
    """Where a run stands: optimizer steps done, the epoch, micro-batches of it done."""

    step: int = 0
    epoch: int = 0
    micro_done: int = 0
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


def _resume(previous: list[Path], optimizer, scheduler, settings: Qwen3Settings, fingerprint: str | None,
            voice: str) -> _Position:
    """The position of the newest checkpoint. Unchanged data: the run goes on where it stopped
    (optimizer, schedule, RNG); new data: a new round of all epochs from its weights, steps
    counting on."""
    if not previous:
        return _Position()
    state = load_training_state(previous[-1])
    if state.get("dataset_fingerprint") != fingerprint:
        log.info("%s: dataset changed since %s: training again from its weights", voice, previous[-1].name)
        return _Position(step=state["step"])
    if state["settings"].get("weights", "float32") == settings.weights:
        optimizer.load_state_dict(state["optimizer"])
    else:  # the other optimizer's state does not fit this one
        log.warning("%s: qwen3.weights is now %s: the optimizer state starts afresh", voice, settings.weights)
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    log.info("%s: resuming from %s (step %d, epoch %d)", voice, previous[-1].name, state["step"], state["epoch"])
    return _Position(state["step"], state["epoch"], state["micro_done"], resumed_from=state["step"])


def _autocast(device: str, weights: str):
    """bf16 autocast on a GPU; on a CPU only around bf16 weights (fp32 inputs meet them there)."""
    if device.startswith("cuda") or weights == "bfloat16":
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _log_step(writer, step: int, losses: torch.Tensor, lr: float, grad_norm) -> float:
    total, talker_loss, sub_talker_loss = losses.tolist()
    writer.add_scalar("train/loss", total, step)
    writer.add_scalar("train/talker_loss", talker_loss, step)
    writer.add_scalar("train/sub_talker_loss", sub_talker_loss, step)
    writer.add_scalar("train/lr", lr, step)
    writer.add_scalar("train/grad_norm", float(grad_norm), step)
    return total


def train_voice(layout: DataLayout, voice: str, settings: Qwen3Settings, max_steps: int = 0) -> TrainResult:
    """Train (or resume) the voice's Qwen3 model; returns the last checkpoint written.

    `max_steps` stops after that many optimizer steps in total (0: run all epochs).
    """
    from qwen_tts.core.models import Qwen3TTSProcessor
    from torch.utils.tensorboard import SummaryWriter

    rows, train_rows, val_rows = _read_rows(layout, voice)
    device = resolve_device(settings.device)
    base = local_folder(settings.base_model)
    run = run_dir(layout, voice)
    if run.is_dir():
        recover(run)
    previous = checkpoints(run)
    model = load_for_training(previous[-1] if previous else base, device, settings.weights)
    processor = Qwen3TTSProcessor.from_pretrained(str(base))
    store = dict(np.load(codes_store(layout, voice)))
    train_examples = build_examples(train_rows, store, processor)
    val_examples = build_examples(val_rows, store, processor)
    speakers = _speaker_embeddings(model, rows, device)

    trainable = [p for n, p in model.named_parameters() if not n.startswith("speaker_encoder")]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not name.startswith("speaker_encoder"))
    optimizer = training_optimizer(trainable, settings.weights, settings.lr, settings.weight_decay)
    micro_per_epoch = math.ceil(len(train_examples) / settings.batch_size)
    run_steps = math.ceil(micro_per_epoch / settings.grad_accum) * settings.epochs
    # The scheduler counts this run's steps (a fresh one when new data continues a model).
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, settings.warmup_steps, run_steps)
    )
    fingerprint = dataset_fingerprint(layout, voice)
    at = _resume(previous, optimizer, scheduler, settings, fingerprint, voice)
    total_steps = run_steps if at.resumed_from is not None or not previous else run_steps + at.step
    autocast = _autocast(device, settings.weights)
    writer = SummaryWriter(str(run / "tensorboard"))
    result = TrainResult(previous[-1] if previous else base, at.step, at.resumed_from)

    def speaker_for(batch_rows: list[dict]) -> torch.Tensor:
        return torch.stack([speakers[r["ref_audio"]] for r in batch_rows])

    def save(epoch_now: int, micro_now: int) -> Path:
        state = {
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": at.step,
            "epoch": epoch_now, "micro_done": micro_now, "torch_rng": torch.get_rng_state(),
            "settings": settings.model_dump(), "dataset_fingerprint": fingerprint,
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
        batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
        for micro in range(at.micro_done, len(batches)):
            indices = batches[micro]
            batch = collate([train_examples[i] for i in indices], model.config).to(device)
            with autocast:
                losses = compute_losses(model, batch, speaker_for([train_rows[i] for i in indices]),
                                        settings.sub_talker_weight)
            if not torch.isfinite(losses.total):
                raise TrainingDivergedError(run, at.step, f"the loss ({losses.total.item()})", result.checkpoint,
                                            f"lower qwen3.lr ({settings.lr}) or check the clips")
            # Each micro-batch weighs 1/n of its step, n counting a short last group of the epoch too.
            group_start = micro - micro % settings.grad_accum
            group_size = min(settings.grad_accum, len(batches) - group_start)
            (losses.total / group_size).backward()
            group += torch.stack([losses.total, losses.talker, losses.sub_talker]).detach().float().cpu() / group_size
            last_of_epoch = micro == len(batches) - 1
            if (micro + 1) % settings.grad_accum and not last_of_epoch:
                continue
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            at.step += 1
            result.step = at.step
            total = _log_step(writer, at.step, group, scheduler.get_last_lr()[0], grad_norm)
            group.zero_()
            result.train_losses.append(total)
            if at.step % 10 == 0 or at.step == 1:
                log.info("%s: step %d/%d epoch %d loss %.4f (%.1f s)", voice, at.step, total_steps, at.epoch,
                         total, time.monotonic() - started)
            done = max_steps and at.step >= max_steps
            if (settings.save_every_steps and at.step % settings.save_every_steps == 0) or done:
                save(at.epoch, micro + 1)
            if done:
                writer.close()
                return result
        at.micro_done = 0
        at.epoch += 1
        if val_examples:
            result.val_losses.append(evaluate(model, val_examples, val_rows, speaker_for, settings, autocast, device))
            writer.add_scalar("val/loss", result.val_losses[-1], at.step)
            log.info("%s: epoch %d validation loss %.4f", voice, at.epoch, result.val_losses[-1])
        save(at.epoch, 0)
    writer.close()
    # Only a run through all its epochs counts as trained on this data (a stopped one is resumed).
    record_trained(run, fingerprint, result.checkpoint, at.step)
    return result


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

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
from tts_assets.qwen3.checkpoint import checkpoints, load_training_state, prune, recover, save_checkpoint
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
    from qwen_tts.core.models import Qwen3TTSProcessor
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
    processor = Qwen3TTSProcessor.from_pretrained(str(base))
    store = dict(np.load(codes_store(layout, voice)))
    train_examples = build_examples(train_rows, store, processor)
    val_examples = build_examples(val_rows, store, processor)
    speakers = _speaker_embeddings(model, rows, device)

    trainable = [p for n, p in model.named_parameters() if not n.startswith("speaker_encoder")]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not name.startswith("speaker_encoder"))
    optimizer = training_optimizer(trainable, settings.weights, settings.lr, settings.weight_decay)
    global_batch = settings.batch_size * ranks.world  # batch_size is each process's part
    micro_per_epoch = math.ceil(len(train_examples) / global_batch)
    run_steps = math.ceil(micro_per_epoch / settings.grad_accum) * settings.epochs
    # The scheduler counts this run's steps (a fresh one when new data continues a model).
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, settings.warmup_steps, run_steps)
    )
    fingerprint = dataset_fingerprint(layout, voice)
    at = _resume(previous, optimizer, scheduler, settings, fingerprint, voice)
    total_steps = run_steps if at.resumed_from is not None or not previous else run_steps + at.step
    autocast = _autocast(device, settings.weights)
    writer = SummaryWriter(str(run / "tensorboard")) if ranks.is_main else None
    result = TrainResult(previous[-1] if previous else base, at.step, at.resumed_from)

    def speaker_for(batch_rows: list[dict]) -> torch.Tensor:
        return torch.stack([speakers[r["ref_audio"]] for r in batch_rows])

    def save(epoch_now: int, micro_now: int) -> None:
        if ranks.is_main:  # one checkpoint for all processes
            write_checkpoint(epoch_now, micro_now)
        distributed.barrier()  # the others go on once it is whole

    def write_checkpoint(epoch_now: int, micro_now: int) -> Path:
        state = {
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": at.step,
            "epoch": epoch_now, "micro_done": micro_now, "torch_rng": torch.get_rng_state(),
            "settings": settings.model_dump(), "dataset_fingerprint": fingerprint,
        }
        speaker = speakers[train_rows[0]["ref_audio"]]
        path = save_checkpoint(model, base, run / f"checkpoint-{at.step}", voice, speaker, state)
        promoted = read_promoted(layout, voice, "qwen3")
        prune(run, settings.keep_checkpoints, Path(promoted["path"]) if promoted else None)
        log.info("%s: saved %s", voice, path.name)
        result.checkpoint = path
        return path

    model.train()
    started = time.monotonic()
    group = torch.zeros(3)  # total, talker, sub-talker loss of the optimizer step being accumulated
    while at.epoch < settings.epochs:
        order = list(range(len(train_examples)))
        random.Random(settings.seed + at.epoch).shuffle(order)
        batches = [order[i : i + global_batch] for i in range(0, len(order), global_batch)]
        for micro in range(at.micro_done, len(batches)):
            indices = distributed.shard(batches[micro], ranks)
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
            last_of_epoch = micro == len(batches) - 1
            if (micro + 1) % settings.grad_accum and not last_of_epoch:
                continue
            distributed.sum_gradients(trainable)
            distributed.sum_across_ranks(group)
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            at.step += 1
            result.step = at.step
            total = _log_step(writer, at.step, group, scheduler.get_last_lr()[0], grad_norm)
            group.zero_()
            result.train_losses.append(total)
            if ranks.is_main and (at.step % 10 == 0 or at.step == 1):
                log.info("%s: step %d/%d epoch %d loss %.4f (%.1f s)", voice, at.step, total_steps, at.epoch,
                         total, time.monotonic() - started)
            done = max_steps and at.step >= max_steps
            if (settings.save_every_steps and at.step % settings.save_every_steps == 0) or done:
                save(at.epoch, micro + 1)
            if done:
                if ranks.is_main:
                    writer.close()
                return result
        at.micro_done = 0
        at.epoch += 1
        if val_examples:
            result.val_losses.append(evaluate(model, val_examples, val_rows, speaker_for, settings, autocast, device))
            if ranks.is_main:  # every process evaluates (the same weights), so none waits for another
                writer.add_scalar("val/loss", result.val_losses[-1], at.step)
                log.info("%s: epoch %d validation loss %.4f", voice, at.epoch, result.val_losses[-1])
        save(at.epoch, 0)
    if ranks.is_main:
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

"""Training on several GPUs (`qwen3.gpus`): data parallelism, one process per card.

The calling process starts the workers (spawned: CUDA cannot be forked) and waits for them; it
holds their rendezvous (a TCP store on a port the kernel picks, so never a taken one), re-emits
the first worker's log records as its own (Dagster captures the step's loggers, not a child's),
and returns that worker's result. A worker's error fails the call, the other workers are stopped,
and a killed caller takes its workers with it (the kernel's parent-death signal).

Each optimizer step takes the same global batch as one process would with N times the batch
size: the first process the first slice of each micro-batch, and so on. Every process's loss is
its share of the step's mean over all targets (`tts_assets.qwen3.batch.target_counts`), so the
gradients are summed, not averaged, and equal one process's. The gradients are summed once per
optimizer step, after accumulation, rather than through DistributedDataParallel: the loss calls the
talker and its code predictor directly, past any wrapper's `forward`. gloo on the CPU, nccl on GPUs.
"""

from __future__ import annotations

import ctypes
import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import sys
import traceback
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from tts_assets.errors import SettingsError, TrainingProcessError, TtsAssetsError

log = logging.getLogger(__name__)

RENDEZVOUS_TIMEOUT = timedelta(minutes=10)
STOP_GRACE_S = 10.0
BUCKET_ELEMENTS = 2**25  # gradients summed 32 M numbers at a time: one copy of that much extra memory


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        """The process that writes checkpoints, TensorBoard and the log."""
        return self.rank == 0


def ranks() -> Ranks:
    """This process's place among the workers (one process alone: rank 0 of 1)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def in_a_worker() -> bool:
    return ranks().world > 1


def shard(global_batch: list[int], at: Ranks) -> list[int]:
    """This process's slice of a global micro-batch (empty when a short last one runs out)."""
    size = -(-len(global_batch) // at.world)
    return global_batch[at.rank * size : (at.rank + 1) * size]


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def barrier() -> None:
    if in_a_worker():
        dist.barrier()


def sum_across_ranks(values: torch.Tensor) -> None:
    """`values` summed over the processes, in place."""
    if not in_a_worker():
        return
    summed = values.to(_collective_device())
    dist.all_reduce(summed)
    values.copy_(summed)


def sum_gradients(parameters: list[torch.Tensor]) -> None:
    """Each gradient summed over the processes. A process whose slice of the step was empty has no
    gradients and adds zeros; a parameter no process has a gradient for keeps none, as it would in
    one process (AdamW then leaves it alone)."""
    if not in_a_worker():
        return
    device = _collective_device()
    present = torch.tensor([p.grad is not None for p in parameters], dtype=torch.int32, device=device)
    dist.all_reduce(present)
    chosen = [p for p, anywhere in zip(parameters, present.tolist()) if anywhere]
    for parameter in chosen:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    for bucket in _buckets(chosen):
        flat = torch.cat([p.grad.reshape(-1) for p in bucket])
        dist.all_reduce(flat)
        offset = 0
        for parameter in bucket:
            parameter.grad.copy_(flat[offset : offset + parameter.numel()].view_as(parameter.grad))
            offset += parameter.numel()


def _buckets(parameters: list[torch.Tensor]):
    bucket: list[torch.Tensor] = []
    for parameter in parameters:
        if bucket and (parameter.grad.dtype != bucket[0].grad.dtype
                       or sum(p.numel() for p in bucket) + parameter.numel() > BUCKET_ELEMENTS):
            yield bucket
            bucket = []
        bucket.append(parameter)
    if bucket:
        yield bucket


def launch(function, args: tuple, processes: int, device: str):
    """`function(*args)` in `processes` workers that train together; the first worker's result."""
    backend = "nccl" if device.startswith("cuda") else "gloo"
    log.info("training in %d processes (%s)", processes, backend)
    spawn = multiprocessing.get_context("spawn")
    results, logs = spawn.Queue(), spawn.Queue()
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=RENDEZVOUS_TIMEOUT)
    listener = logging.handlers.QueueListener(logs, _AsIfLoggedHere())
    workers = [
        spawn.Process(target=_worker, name=f"qwen3-train-{rank}",
                      args=(rank, processes, store.port, backend, function, args, results, logs, os.getpid()))
        for rank in range(processes)
    ]
    listener.start()
    try:
        for worker in workers:
            worker.start()
        return _wait_for(workers, results)
    finally:
        _stop(workers)
        listener.stop()


def _wait_for(workers, results):
    done: dict[int, object] = {}
    while len(done) < len(workers):
        try:
            message = results.get(timeout=1.0)
        except queue.Empty:
            dead = [(r, w.exitcode) for r, w in enumerate(workers) if r not in done and w.exitcode not in (None, 0)]
            if not dead:
                continue
            try:  # its last word may still be on its way
                message = results.get(timeout=STOP_GRACE_S)
            except queue.Empty:
                rank, code = dead[0]
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                raise TrainingProcessError(rank, len(workers), f"died ({how}; out of memory?)") from None
        kind, rank, payload = message
        if kind == "done":
            done[rank] = payload
        elif kind == "refused":
            raise TrainingProcessError(rank, len(workers), payload)
        else:  # a bug: its traceback, as one process would have shown it
            raise RuntimeError(f"training process {rank} of {len(workers)} failed:\n{payload}")
    return done[0]


def _stop(workers) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(STOP_GRACE_S)
        if worker.is_alive():
            worker.kill()
            worker.join()


class _AsIfLoggedHere(logging.Handler):
    """A worker's record handed to this process's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _die_with(parent: int) -> None:
    """SIGKILL when the caller ends, however it ends (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the signal was asked for
        os._exit(1)


def _worker(rank, processes, port, backend, function, args, results, logs, parent) -> None:
    _die_with(parent)
    if rank == 0:
        root = logging.getLogger()
        root.handlers = [logging.handlers.QueueHandler(logs)]
        root.setLevel(logging.INFO)
    try:
        store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=RENDEZVOUS_TIMEOUT)
        if backend == "nccl":  # "cuda" then means this process's card
            if torch.cuda.device_count() < processes:  # counted here: the caller may have started CUDA earlier
                raise SettingsError(f"qwen3.gpus is {processes}, but only {torch.cuda.device_count()} GPU(s) are visible")
            torch.cuda.set_device(rank)
        dist.init_process_group(backend, store=store, rank=rank, world_size=processes, timeout=RENDEZVOUS_TIMEOUT)
        result = function(*args)
        dist.destroy_process_group()
        results.put(("done", rank, result if rank == 0 else None))
    except TtsAssetsError as error:
        results.put(("refused", rank, str(error)))
    except BaseException:
        results.put(("failed", rank, traceback.format_exc()))

"""Work done beside a stage, in processes or threads of its own, which must not slow the stage."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable, Iterator


def lower_priority() -> None:
    """Run the calling thread (and the threads it starts) only on what the stage beside it leaves
    of the cores: measuring segments while the ASR transcribes, DNSMOS while pocketsphinx aligns.
    Linux's SCHED_IDLE, not a nice value: CTranslate2's threads wait on each other, so even a
    niced neighbour that took a core from one of them for a time slice slowed the whole ASR."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # another system: the work is only less polite
        try:
            os.nice(19)
        except OSError:
            pass


def crossable(error: BaseException) -> BaseException:
    """`error` as it can be raised again in the caller's process: itself, or when it cannot be
    rebuilt there (an exception type whose arguments do not round-trip), a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


class BackgroundProcess:
    """`work(*args, items)` in a spawned process at idle priority (`lower_priority`), fed `items`
    through a queue (`backlog` of them at most; 0: no bound) as the caller makes them; `result` ends
    the items and returns what `work` returned, or raises what stopped it there. Spawned, not
    forked: the caller may hold threads (CTranslate2's, onnxruntime's) a fork would copy mid-work."""

    def __init__(self, name: str, work: Callable, args: tuple, backlog: int = 0):
        context = multiprocessing.get_context("spawn")
        self.name = name
        self.inbox, self.outbox = context.Queue(maxsize=backlog), context.Queue()
        self.process = context.Process(target=_serve, args=(work, args, self.inbox, self.outbox), name=name,
                                       daemon=True)
        self.process.start()

    def __enter__(self) -> "BackgroundProcess":
        return self

    def __exit__(self, *failed) -> None:
        self.stop()

    def put(self, item) -> None:
        while True:
            self._raise_if_dead()
            try:
                return self.inbox.put(item, timeout=1.0)
            except queue.Full:
                pass

    def result(self):
        self.put(None)
        while True:
            try:
                outcome = self.outbox.get(timeout=1.0)
                break
            except queue.Empty:
                self._raise_if_dead()
        self.process.join()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stop(self) -> None:
        """Kill it if it still runs (a failure on the caller's side: what it made is not kept)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def _raise_if_dead(self) -> None:
        if self.process.is_alive():
            return
        try:  # the error that stopped it, if it could say
            outcome = self.outbox.get(timeout=0.5)
        except queue.Empty:
            outcome = None
        if isinstance(outcome, BaseException):
            raise outcome
        raise RuntimeError(f"the {self.name} process died (exit code {self.process.exitcode})")


def _serve(work: Callable, args: tuple, inbox, outbox) -> None:
    lower_priority()
    items: Iterator = iter(inbox.get, None)
    try:
        outbox.put(work(*args, items))
    except Exception as error:  # raised by `result`, in the caller's process
        outbox.put(crossable(error))

"""One worker per device: model work runs one request at a time, never two into an out-of-memory.

Requests wait in a bounded queue (`QueueFullError` beyond it, answered 503); a request cancelled
while it waits (client gone) is dropped without running. The last jobs' timings are kept
(`history`) for /health and for checking that nothing ever overlapped.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass


class QueueFullError(Exception):
    pass


@dataclass
class JobRecord:
    id: int
    queued: float  # time.monotonic()
    started: float | None = None
    finished: float | None = None
    label: str = ""


class DeviceQueue:
    def __init__(self, device: str, max_waiting: int, history: int = 256):
        self.device = device
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{device}")
        self._lock = threading.Lock()
        self._pending = 0  # waiting + running
        self._running = 0
        self._ids = itertools.count(1)
        self.history: deque[JobRecord] = deque(maxlen=history)

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._pending - self._running

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running > 0

    def submit(self, job: Callable[[], object], label: str = "") -> tuple[Future, JobRecord]:
        with self._lock:
            if self._pending >= self.max_waiting + 1:  # one running, max_waiting waiting
                raise QueueFullError(f"{self._pending} requests already queued for {self.device}")
            self._pending += 1
        record = JobRecord(next(self._ids), time.monotonic(), label=label)

        def run():
            with self._lock:
                self._running += 1
            record.started = time.monotonic()
            try:
                return job()
            finally:
                record.finished = time.monotonic()
                with self._lock:
                    self._running -= 1
                self.history.append(record)

        future = self._executor.submit(run)
        future.add_done_callback(self._done)
        return future, record

    def _done(self, _future: Future) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

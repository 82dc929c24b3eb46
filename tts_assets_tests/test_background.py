"""The build's background processes: what they return, what stops them and a hard death all reach
the caller, and they run at idle priority."""

import os

import pytest

from tts_assets.background import BackgroundProcess
from tts_assets.errors import UnreadableAudioError


def summed(start: int, items) -> tuple[int, int]:
    return start + sum(items), os.sched_getscheduler(0)


def failing(items):
    for item in items:
        if item == "bad":
            raise UnreadableAudioError("/books/b.mp3", "no audio stream")


def dying(items):
    next(items)
    os._exit(3)


def test_a_background_process_returns_what_its_work_made_at_idle_priority():
    with BackgroundProcess("summing", summed, (10,), backlog=2) as worker:
        for item in range(5):
            worker.put(item)
        total, policy = worker.result()
    assert total == 20 and policy == os.SCHED_IDLE


def test_its_error_comes_back_with_its_kind_and_a_hard_death_is_said():
    with BackgroundProcess("failing", failing, ()) as worker:
        worker.put("good")
        worker.put("bad")
        with pytest.raises(UnreadableAudioError, match="/books/b.mp3: cannot read audio") as caught:
            worker.result()
    assert caught.value.cause == "no audio stream"
    with BackgroundProcess("dying", dying, ()) as worker:
        worker.put("first")
        with pytest.raises(RuntimeError, match="the dying process died \\(exit code 3\\)"):
            for _ in range(100):  # it dies after the first item: a later put or the result says so
                worker.put("more")
            worker.result()

"""Work done beside a stage, in processes or threads of its own, which must not slow the stage."""

from __future__ import annotations

import os
import pickle


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

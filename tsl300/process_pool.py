"""Worker processes that never outlive the command that started them.

``tsl300 extract/localize --workers N`` use a process pool; a SIGTERM to the command (a job
scheduler's stop, ``kill``) used to leave the workers, each with a loaded model, running
forever. Here a SIGTERM to the parent kills its workers first and then ends the parent as
SIGTERM would, and on Linux each worker also asks the kernel for SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), which covers a SIGKILLed parent too. The multiprocessing
resource tracker exits by itself once every process holding its pipe is gone.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Iterator

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int, initializer: Callable | None, initargs: tuple) -> None:
    """Worker initializer: SIGTERM when the parent dies (Linux), then the real initializer."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
    if initializer is not None:
        initializer(*initargs)


def worker_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A spawn-context pool of ``workers`` processes that die with this process."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_die_with_parent,
                               initargs=(os.getpid(), initializer, initargs))


def kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every live worker of ``pool`` (they hold no state a rerun needs)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, AttributeError, ValueError):
            process.kill()


@contextlib.contextmanager
def stopped_by_sigterm(pool: ProcessPoolExecutor) -> Iterator[ProcessPoolExecutor]:
    """While the body runs, SIGTERM kills ``pool``'s workers, then this process (exit status
    of a SIGTERM). Outside the main thread signals cannot be handled and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield pool
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        kill_workers(pool)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield pool
    finally:
        signal.signal(signal.SIGTERM, previous)

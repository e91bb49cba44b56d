"""One training process per run folder: the folder is claimed with an ``flock`` (through
``filelock``, as ``tsl300 extract`` claims videos) for as long as training runs.

Two ``tsl300 train`` into one ``--out`` would both write ``model.safetensors`` and interleave
rows of ``train_log.csv``; the second is refused at once instead. The kernel releases the
lock when a process dies, so a killed run never leaves its folder locked.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from ..errors import Tsl300Error

LOCK_NAME = ".train.lock"


class RunFolderBusy(Tsl300Error):
    """Another process is training into this run folder."""


@contextmanager
def claim_run_folder(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the body; RunFolderBusy when another process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunFolderBusy(f"{run_dir}: another tsl300 train is writing into this run folder "
                            f"(it holds {run_dir / LOCK_NAME}); wait for it to finish or choose "
                            "another --out") from None
    try:
        yield run_dir
    finally:
        lock.release()

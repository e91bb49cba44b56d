"""Writing features in the TSL-300 layout, atomically and safely from parallel workers.

::

    OUT/features/{split}/{modality}/{vid}.npy      stored array (spec layout)
    OUT/features/{split}/{modality}/{vid}.missing  empty marker: this modality is absent
                                                   (no/silent audio); the .npy holds zeros
    OUT/features/{split}/{modality}/spec.json      the ExtractorSpec
    OUT/fps_dict.json, OUT/len_duration_dict.json  vid -> fps / duration (s), merged

A video counts as finished when every modality's .npy exists and its id is in fps_dict.json
(written last), so an interrupted run redoes only unfinished videos.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from tsl300.data.features import MISSING_SUFFIX
from tsl300.data.io import atomic_save_npy, atomic_write_text, read_json, remove_stale_temps
from tsl300.errors import DataError, SpecMismatchError

from .spec import SPEC_FILENAME, ExtractorSpec

FPS_DICT = "fps_dict.json"
DURATION_DICT = "len_duration_dict.json"


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on ``path`` (a sidecar .lock file) across processes
    (``flock`` on POSIX, ``msvcrt.locking`` on Windows, through ``filelock``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(f".{path.name}.lock")):
        yield


def read_json_dict(path: Path) -> dict:
    """The JSON object in ``path`` ({} when absent or empty); DataError naming the file otherwise."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    data = read_json(path, "video id -> value")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def merge_json_dict(path: str | Path, entries: dict) -> None:
    """Add ``entries`` to the JSON object in ``path`` (created if absent) under a file lock."""
    path = Path(path)
    with _locked(path):
        remove_stale_temps(path)  # a writer killed mid-write; none can be writing now
        data = read_json_dict(path)
        data.update(entries)
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


class FeatureStore:
    """One split of a TSL-300 feature folder."""

    def __init__(self, root: str | Path, split: str = "test"):
        self.root = Path(root)
        self.split = split

    def folder(self, modality: str) -> Path:
        return self.root / "features" / self.split / modality

    def npy_path(self, modality: str, vid: str) -> Path:
        return self.folder(modality) / f"{vid}.npy"

    def marker_path(self, modality: str, vid: str) -> Path:
        return self.folder(modality) / f"{vid}{MISSING_SUFFIX}"

    def prepare(self, specs: list[ExtractorSpec]) -> None:
        """Write each spec.json, or check it matches the one already there (no mixing)."""
        for spec in specs:
            folder = self.folder(spec.modality)
            with _locked(folder / SPEC_FILENAME):
                if (folder / SPEC_FILENAME).exists():
                    existing = ExtractorSpec.load(folder)
                    try:
                        existing.check_compatible(spec, where=str(folder / SPEC_FILENAME))
                    except SpecMismatchError as exc:
                        raise SpecMismatchError(
                            f"{exc}. Write to another output folder or remove the old features."
                        ) from None
                else:
                    spec.save(folder)

    @contextlib.contextmanager
    def claim(self, vid: str):
        """Yield True when this process may extract ``vid`` now, False when another one is at it.

        An exclusive non-blocking lock on ``features/{split}/.claims/{vid}.lock`` held while the
        body runs (``flock`` on POSIX, ``msvcrt.locking`` on Windows, via ``filelock``):
        processes sharing an output folder never do one video twice, and the kernel drops the
        lock when its process dies, so a killed run leaves no stale claim.
        """
        path = self.root / "features" / self.split / ".claims" / f"{vid}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            self._remove_stale_temps(vid)
            yield True
        finally:
            lock.release()

    def _remove_stale_temps(self, vid: str) -> None:
        """Temporary files of ``vid`` left by a killed process (safe: we hold its claim)."""
        split_dir = self.root / "features" / self.split
        for folder in (p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            remove_stale_temps(folder / f"{vid}.npy")
            remove_stale_temps(folder / f"{vid}{MISSING_SUFFIX}")

    def is_done(self, vid: str, modalities: list[str]) -> bool:
        if vid not in read_json_dict(self.root / FPS_DICT):
            return False
        return all(self.npy_path(m, vid).exists() for m in modalities)

    def write_video(self, vid: str, stored: dict[str, np.ndarray], missing: tuple[str, ...],
                    fps: float, duration: float) -> None:
        """Write one video's arrays and markers, then its fps/duration entries (the done flag)."""
        for modality, array in stored.items():
            marker = self.marker_path(modality, vid)
            if modality in missing:
                atomic_write_text(marker, "")
            else:
                marker.unlink(missing_ok=True)
            atomic_save_npy(self.npy_path(modality, vid), array.astype(np.float32, copy=False))
        merge_json_dict(self.root / DURATION_DICT, {vid: duration})
        merge_json_dict(self.root / FPS_DICT, {vid: fps})

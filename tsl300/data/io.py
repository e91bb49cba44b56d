"""Small file helpers shared by the readers and writers of the data layer.

Reading: JSON/CSV/text with a :class:`~tsl300.errors.DataError` that names the file on any
problem, video-id checks that keep paths inside the dataset root, and the natural sort order
the official code uses (``natsort.natsorted``) without depending on natsort.

Writing: every file is written to a temporary sibling and moved into place with
``os.replace``, so an interrupted job never leaves a half-written file behind.
"""
from __future__ import annotations

import glob
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

POINT_COLUMNS = ("class", "class_index", "start_frame", "stop_frame", "video_id", "point")
"""Columns of the TSL-300 point files (``point_anno_*.txt`` and ``point_labels.csv``)."""

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key equal in effect to ``natsort.natsorted``'s default (unsigned integers).

    ``"2_a" < "10_a"``; the key always starts with a string part so keys compare.
    """
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def natsorted(items) -> list[str]:
    return sorted(items, key=natural_key)


def check_video_id(vid: str, source: Path | str) -> str:
    """Reject ids that are empty or would leave the feature folder (``/``, ``\\``, ``..``)."""
    if (not isinstance(vid, str) or not vid or vid in (".", "..") or "/" in vid or "\\" in vid
            or "\x00" in vid or vid != vid.strip()):
        raise DataError(f"{source}: invalid video id {vid!r} (empty, surrounding spaces, or a "
                        "path separator / '..' that would leave the dataset folder)")
    return vid


def safe_child(root: Path, *parts: str) -> Path:
    """``root/parts`` after checking the result stays under ``root``."""
    path = root.joinpath(*parts)
    root_resolved = root.resolve()
    resolved = path.resolve()
    if root_resolved != resolved and root_resolved not in resolved.parents:
        raise DataError(f"{path}: resolves outside the dataset folder {root}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: missing file ({what})")
    return path


def read_json(path: Path, what: str) -> Any:
    require_file(path, what)
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh, object_pairs_hook=lambda pairs: unique_json_keys(pairs, path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: malformed JSON ({what}): {exc}") from None
    except RecursionError:
        raise DataError(f"{path}: malformed JSON ({what}): nested too deeply") from None


def unique_json_keys(pairs: list, path: Path) -> dict:
    """A JSON object, refusing a repeated key (json keeps the last one and drops the rest silently).

    Used as ``object_pairs_hook`` by every JSON reader of datasets and predictions."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DataError(f"{path}: key {repeated!r} appears twice in one JSON object "
                        "(e.g. a video listed twice); only one entry would be kept")
    return out


def read_json_mapping(path: Path, what: str, value_type: Callable[[Any], Any] = float) -> dict:
    """A JSON object ``{key: value}`` with every value converted by ``value_type``."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object ({what}), got {type(data).__name__}")
    out = {}
    for key, value in data.items():
        try:
            if isinstance(value, bool):
                raise TypeError  # true would read as 1.0
            out[key] = value_type(value)
        except (TypeError, ValueError):
            raise DataError(f"{path}: entry {key!r} has a bad value {value!r} ({what})") from None
    return out


def read_split(path: Path) -> list[str]:
    """One video id per line, as the official code reads ``split_{split}.txt``."""
    require_file(path, "split file: one video id per line")
    with open(path, "r", encoding="utf-8") as fh:
        vids = [line.strip() for line in fh if line.strip()]
    seen: set[str] = set()
    for vid in vids:
        check_video_id(vid, path)
        if vid in seen:
            raise DataError(f"{path}: duplicate video id {vid!r}")
        seen.add(vid)
    return vids


def read_point_table(path: Path, class_names: tuple[str, ...]) -> pd.DataFrame:
    """Read a point file (header ``class,class_index,start_frame,stop_frame,video_id,point``).

    Checks: header, integer frames >= 0, known class names, and that ``class_index`` is the
    index of ``class`` in ``class_names``. Row order is kept (the official code keeps it).
    """
    import pandas as pd  # here: the result types import this module and must stay light

    require_file(path, "point annotations")
    try:
        table = pd.read_csv(path, dtype={"video_id": str, "class": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from None
    missing = [c for c in POINT_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: malformed point file, missing column(s) {missing}; expected "
                        f"header {','.join(POINT_COLUMNS)}")
    table = table[list(POINT_COLUMNS)]
    if table.isna().any().any():
        row = int(np.flatnonzero(table.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: empty field in data row {row + 1}")
    for col in ("class_index", "start_frame", "stop_frame", "point"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values) | (values != values.round()) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: column {col!r} must hold integers >= 0, data row {row + 1} "
                            f"has {table[col].iloc[row]!r}")
        table[col] = values.astype(np.int64)
    known = table["class"].isin(class_names)
    if not known.all():
        row = int(np.flatnonzero(~known.to_numpy())[0])
        raise DataError(f"{path}: unknown class label {table['class'].iloc[row]!r} in data row "
                        f"{row + 1}; known classes {list(class_names)}")
    expected_index = table["class"].map({c: i for i, c in enumerate(class_names)})
    wrong = expected_index != table["class_index"]
    if wrong.any():
        row = int(np.flatnonzero(wrong.to_numpy())[0])
        raise DataError(f"{path}: data row {row + 1} has class {table['class'].iloc[row]!r} but "
                        f"class_index {table['class_index'].iloc[row]} (expected "
                        f"{int(expected_index.iloc[row])})")
    for vid in table["video_id"].unique():
        check_video_id(vid, path)
    return table.reset_index(drop=True)


# ----------------------------------------------------------------------------- writing

def _current_umask() -> int:
    """The process umask (read without a window where it is changed: /proc first)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def chmod_like_open(path: str | os.PathLike) -> None:
    """Give a ``mkstemp`` file (always 0600) the mode a plain ``open()`` would: 0666 minus umask."""
    os.chmod(path, 0o666 & ~_current_umask())


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        chmod_like_open(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: Path) -> int:
    """Delete the temporary files that an interrupted atomic write of ``path`` left behind
    (``.NAME.*.tmp`` beside it). Only call this while holding what serialises writers of
    ``path`` (its lock or claim), so that no live writer's file is taken. Returns the count."""
    path = Path(path)
    removed = 0
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder + ``os.replace``."""
    _atomic_write(Path(path), lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    """JSON with keys in insertion order (deterministic for deterministic input)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file + ``os.replace`` (streamed, no in-memory copy)."""
    _atomic_write(Path(path), lambda fh: np.save(fh, np.ascontiguousarray(array), allow_pickle=False))

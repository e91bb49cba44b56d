"""The user's own label files: points ``video,time,label[,annotator]`` and segments
``video,start,end,label[,annotator]``, in seconds.

These are what ``tsl300 annotate`` writes and ``tsl300 dataset build`` reads; a user can also
write them by hand or export them from another tool. Labels are ``positive``/``negative`` (the
TSL-300 codes ``p``/``n`` are accepted too). Every problem is a :class:`DataError` that names
the file and the row (row 1 is the header), so a bad file never gives a silently wrong dataset.
Writes are atomic (temporary file + ``os.replace``): a reader never sees half a file.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..classes import SENTIMENTS, sentiment_of
from ..errors import DataError
from .io import atomic_write_text, check_video_id

POINT_HEADER = ("video", "time", "label")
SEGMENT_HEADER = ("video", "start", "end", "label")
ANNOTATOR_COLUMN = "annotator"
TIME_DECIMALS = 3
"""Times are stored in milliseconds precision (what a click can mean)."""


@dataclass(frozen=True)
class PointLabel:
    video: str
    time: float
    label: str          # "positive" / "negative"
    annotator: str = ""


@dataclass(frozen=True)
class SegmentLabel:
    video: str
    start: float
    end: float
    label: str
    annotator: str = ""


def _rows(path: Path, header: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        columns = [c.strip() for c in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: empty file; expected the header {','.join(header)}") from None
    allowed = set(header) | {ANNOTATOR_COLUMN}
    if set(header) - set(columns) or set(columns) - allowed or len(set(columns)) != len(columns):
        raise DataError(f"{path}: row 1: header {','.join(columns)!r}; expected {','.join(header)} "
                        f"(plus an optional {ANNOTATOR_COLUMN} column)")
    out = []
    for number, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(columns):
            raise DataError(f"{path}: row {number}: {len(values)} fields, the header has {len(columns)}")
        out.append((number, {c: v.strip() for c, v in zip(columns, values)}))
    return out


def _seconds(path: Path, number: int, name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise DataError(f"{path}: row {number}: {name} {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise DataError(f"{path}: row {number}: {name} {value!r} must be a finite time >= 0 s")
    return seconds


def _label(path: Path, number: int, value: str) -> str:
    try:
        return sentiment_of(value.lower())
    except ValueError:
        raise DataError(f"{path}: row {number}: unknown label {value!r}; expected one of "
                        f"{', '.join(SENTIMENTS)}") from None


def _video(path: Path, number: int, value: str, durations: Mapping[str, float] | None) -> str:
    check_video_id(value, f"{path}: row {number}")
    if durations is not None and value not in durations:
        raise DataError(f"{path}: row {number}: unknown video {value!r} (no video with that file stem)")
    return value


def _check_inside(path: Path, number: int, vid: str, seconds: float, durations: Mapping[str, float] | None) -> None:
    if durations is not None and seconds > durations[vid] + 1e-6:
        raise DataError(f"{path}: row {number}: time {seconds:g} s is outside video {vid!r} "
                        f"(duration {durations[vid]:.3f} s)")


def read_points(path, durations: Mapping[str, float] | None = None) -> list[PointLabel]:
    """The points of ``path``; with ``durations`` (video id -> seconds) also check every video
    exists and every point lies inside its video."""
    path = Path(path)
    points = []
    for number, row in _rows(path, POINT_HEADER):
        vid = _video(path, number, row["video"], durations)
        time = _seconds(path, number, "time", row["time"])
        _check_inside(path, number, vid, time, durations)
        points.append(PointLabel(vid, time, _label(path, number, row["label"]), row.get(ANNOTATOR_COLUMN, "")))
    return points


def read_segments(path, durations: Mapping[str, float] | None = None) -> list[SegmentLabel]:
    """The segments of ``path`` (``start < end``), checked as :func:`read_points`."""
    path = Path(path)
    segments = []
    for number, row in _rows(path, SEGMENT_HEADER):
        vid = _video(path, number, row["video"], durations)
        start = _seconds(path, number, "start", row["start"])
        end = _seconds(path, number, "end", row["end"])
        if end <= start:
            raise DataError(f"{path}: row {number}: end {end:g} s is not after start {start:g} s")
        _check_inside(path, number, vid, end, durations)
        segments.append(SegmentLabel(vid, start, end, _label(path, number, row["label"]),
                                     row.get(ANNOTATOR_COLUMN, "")))
    return segments


def _fmt(seconds: float) -> str:
    return f"{round(seconds, TIME_DECIMALS):.{TIME_DECIMALS}f}"


def _write(path: Path, header: Sequence[str], rows: list[list[str]], with_annotator: bool) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header) + ([ANNOTATOR_COLUMN] if with_annotator else []))
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def write_points(path, points: Sequence[PointLabel]) -> Path:
    """Write ``points`` sorted by (video, time), atomically; the annotator column only when
    some point has an annotator."""
    ordered = sorted(points, key=lambda p: (p.video, p.time, p.label))
    with_annotator = any(p.annotator for p in ordered)
    rows = [[p.video, _fmt(p.time), p.label] + ([p.annotator] if with_annotator else []) for p in ordered]
    return _write(Path(path), POINT_HEADER, rows, with_annotator)


def write_segments(path, segments: Sequence[SegmentLabel]) -> Path:
    ordered = sorted(segments, key=lambda s: (s.video, s.start, s.end, s.label))
    with_annotator = any(s.annotator for s in ordered)
    rows = [[s.video, _fmt(s.start), _fmt(s.end), s.label] + ([s.annotator] if with_annotator else [])
            for s in ordered]
    return _write(Path(path), SEGMENT_HEADER, rows, with_annotator)


def round_time(seconds: float) -> float:
    """A time as it is stored (ms)."""
    return round(float(seconds), TIME_DECIMALS)

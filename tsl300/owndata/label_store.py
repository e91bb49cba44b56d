"""Points (and segments) being annotated, changed one operation at a time and saved at once.

Each operation (add, move or delete one point or segment) re-reads the file under a lock,
applies itself and writes the file atomically. So two browser tabs, or two servers, on one
file never overwrite each other's points (each sends only its own change, never the whole
list), and killing the server at any moment loses no click that was answered.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping

from filelock import FileLock

from ..classes import sentiment_of
from ..data.user_labels import (PointLabel, SegmentLabel, read_points, read_segments, round_time,
                                write_points, write_segments)
from ..errors import DataError

SAME_TIME = 5e-4
"""Two stored times closer than this are the same click (times are stored in ms)."""


class LabelStore:
    """The label files of one annotation session. ``apply(op)`` returns the video's labels."""

    def __init__(self, points_path, durations: Mapping[str, float], segments_path=None, annotator: str = ""):
        self.points_path = Path(points_path)
        self.segments_path = Path(segments_path) if segments_path else None
        self.durations = dict(durations)
        self.annotator = annotator
        self._lock = threading.Lock()
        self._file_lock = FileLock(str(self.points_path.with_name(f".{self.points_path.name}.lock")))
        for path in (self.points_path, self.segments_path):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        self._read_points()  # a bad existing file is an error now, before any click
        self._read_segments()

    # -- reading ------------------------------------------------------------------------
    def _read_points(self) -> list[PointLabel]:
        if not self.points_path.exists():
            return []
        return read_points(self.points_path, self.durations)

    def _read_segments(self) -> list[SegmentLabel]:
        if self.segments_path is None or not self.segments_path.exists():
            return []
        return read_segments(self.segments_path, self.durations)

    def labels(self, vid: str) -> dict[str, Any]:
        with self._lock:
            return self._labels(vid, self._read_points(), self._read_segments())

    def counts(self) -> dict[str, int]:
        """Points per video (for the progress over the folder)."""
        counts = dict.fromkeys(self.durations, 0)
        for p in self._read_points():
            counts[p.video] = counts.get(p.video, 0) + 1
        return counts

    @staticmethod
    def _labels(vid: str, points, segments) -> dict[str, Any]:
        return {"video": vid,
                "points": [{"time": p.time, "label": p.label, "annotator": p.annotator}
                           for p in sorted(points, key=lambda p: p.time) if p.video == vid],
                "segments": [{"start": s.start, "end": s.end, "label": s.label}
                             for s in sorted(segments, key=lambda s: s.start) if s.video == vid]}

    # -- changing -----------------------------------------------------------------------
    def apply(self, op: Mapping[str, Any]) -> dict[str, Any]:
        """Apply one operation and save. ``op``: ``{"op": "add"|"move"|"delete", "kind":
        "point"|"segment", "video", "label", "time" (points) or "start"/"end" (segments),
        "to" (move: the new time)}``. A delete or move of a label that is gone already (another
        tab removed it) changes nothing. Returns the video's labels and ``changed``."""
        vid = op.get("video")
        if vid not in self.durations:
            raise DataError(f"unknown video {vid!r}")
        kind, action = op.get("kind", "point"), op.get("op")
        if action not in ("add", "move", "delete") or kind not in ("point", "segment"):
            raise DataError(f"unknown operation {action!r} on {kind!r}")
        if kind == "segment" and self.segments_path is None:
            raise DataError("segment mode is off (start the server with --segments FILE)")
        label = sentiment_of(str(op.get("label", "")))
        with self._lock, self._file_lock:
            points, segments = self._read_points(), self._read_segments()
            if kind == "point":
                changed = self._apply_point(points, action, vid, label, op)
                if changed:
                    write_points(self.points_path, points)
            else:
                changed = self._apply_segment(segments, action, vid, label, op)
                if changed:
                    write_segments(self.segments_path, segments)
            return {**self._labels(vid, points, segments), "changed": changed}

    def _time(self, vid: str, value) -> float:
        try:
            t = round_time(float(value))
        except (TypeError, ValueError):
            raise DataError(f"time {value!r} is not a number") from None
        if not 0 <= t <= self.durations[vid] + 1e-6:
            raise DataError(f"time {t:g} s is outside video {vid!r} (0 to {self.durations[vid]:.3f} s)")
        return t

    def _apply_point(self, points: list[PointLabel], action: str, vid: str, label: str, op) -> bool:
        t = self._time(vid, op.get("time"))
        if action == "add":
            points.append(PointLabel(vid, t, label, self.annotator))
            return True
        match = next((i for i, p in enumerate(points)
                      if p.video == vid and p.label == label and abs(p.time - t) < SAME_TIME), None)
        if match is None:
            return False
        old = points.pop(match)
        if action == "move":
            points.append(PointLabel(vid, self._time(vid, op.get("to")), label, old.annotator))
        return True

    def _apply_segment(self, segments: list[SegmentLabel], action: str, vid: str, label: str, op) -> bool:
        start, end = sorted((self._time(vid, op.get("start")), self._time(vid, op.get("end"))))
        if action == "add":
            if end - start < 2 * SAME_TIME:
                raise DataError("a segment needs an end after its start")
            segments.append(SegmentLabel(vid, start, end, label, self.annotator))
            return True
        match = next((i for i, s in enumerate(segments) if s.video == vid and s.label == label
                      and abs(s.start - start) < SAME_TIME and abs(s.end - end) < SAME_TIME), None)
        if match is None or action == "move":
            return False
        segments.pop(match)
        return True

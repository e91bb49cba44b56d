"""Read ground truth and predictions (ActivityNet / TSL-300 JSON) into flat arrays, with checks.

Ground truth: ``{"database": {vid: {"subset": ..., "annotations": [{"segment": [s, e],
"label": ...}]}}}``; segment bounds may be numbers or numeric strings (the TSL-300 gt.json
stores strings). Predictions: ``{"results": {vid: [{"segment": [s, e], "label": ...,
"score": ...}]}}``. Unlike the official reader, ``version`` / ``external_data`` are not
required. Every problem raises :class:`~tsl300.errors.DataError` naming the file (or "ground
truth dict" / "prediction dict" for in-memory input), the video and what is wrong.

Reading is two-phase so that it stays fast on large files: a tight loop collects the raw values
and numpy checks them all at once; only when that fails does a second, item-by-item pass run to
find and name the first bad item.
"""
from __future__ import annotations

import itertools
import json
import math
import numbers
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..data.io import unique_json_keys
from ..errors import DataError

UNKNOWN_LABEL_POLICIES = ("error", "ignore")
_BOOLS = frozenset((bool, np.bool_))
_RAW_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth segments of the evaluated videos, one row per segment, in file order.

    ``class_index`` maps label -> column in order of first appearance (the official order);
    ``video_index`` holds every evaluated video, including those without segments.
    """

    class_index: dict[str, int]
    video_index: dict[str, int]
    video: np.ndarray  # int64 (G,) index into video_index
    start: np.ndarray  # float64 (G,) seconds
    end: np.ndarray  # float64 (G,)
    label: np.ndarray  # int64 (G,) index into class_index


@dataclass(frozen=True)
class Predictions:
    """Scored predicted segments in file order. ``video`` is -1 for videos with no ground truth."""

    video: np.ndarray  # int64 (N,)
    start: np.ndarray  # float64 (N,)
    end: np.ndarray  # float64 (N,)
    label: np.ndarray  # int64 (N,) index into the ground truth's class_index
    score: np.ndarray  # float64 (N,)
    ignored: int = 0  # predictions dropped for a label without ground truth


def load_json(source: str | os.PathLike | Mapping, what: str) -> tuple[Mapping, str]:
    """Return (data, name for messages). ``source`` is a path or an already-loaded dict."""
    if isinstance(source, Mapping):
        return source, f"{what} dict"
    path = Path(source)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, object_pairs_hook=lambda pairs: unique_json_keys(pairs, path))
    except FileNotFoundError:
        raise DataError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: expected a {what} JSON file, got a directory") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise DataError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    return data, str(path)


# ---------------------------------------------------------------------------------------------
# Item-by-item checks: they define what is valid and produce the error messages.


def _segment_bounds(segment: Any, where: str) -> tuple[float, float]:
    """Check one ``[start, end]`` pair: numbers (or numeric strings), finite, start <= end."""
    if not isinstance(segment, (list, tuple)) or len(segment) != 2:
        raise DataError(f"{where}: 'segment' must be [start, end], got {segment!r}")
    if any(isinstance(x, (bool, np.bool_)) for x in segment):
        raise DataError(f"{where}: segment bounds must be numbers, got {segment!r}")
    try:
        start, end = float(segment[0]), float(segment[1])
    except (TypeError, ValueError):
        raise DataError(f"{where}: segment bounds must be numbers, got {segment!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise DataError(f"{where}: segment bounds must be finite, got {segment!r}")
    if start > end:
        raise DataError(f"{where}: segment start {start} > end {end}")
    return start, end


def _check_label(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise DataError(f"{where}: 'label' must be a string, got {value!r}")


def _check_score(value: Any, where: str) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise DataError(f"{where}: 'score' must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise DataError(f"{where}: score is {float(value)} (scores must be finite)")


def _check_item(item: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(item, Mapping) or not set(keys) <= item.keys():
        raise DataError(f"{where}: needs " + ", ".join(repr(k) for k in keys))
    _segment_bounds(item["segment"], where)
    _check_label(item["label"], where)
    if "score" in keys:
        _check_score(item["score"], where)


def _check_database(database: Mapping, name: str, subset: str | None) -> None:
    for vid, entry in database.items():
        if not isinstance(entry, Mapping) or "subset" not in entry:
            raise DataError(f"{name}: video {vid!r} needs an object with a 'subset' field")
        if subset is not None and entry["subset"] != subset:
            continue
        annotations = entry.get("annotations")
        if not isinstance(annotations, list):
            raise DataError(f"{name}: video {vid!r} needs an 'annotations' list")
        for i, ann in enumerate(annotations):
            _check_item(ann, ("segment", "label"), f"{name}: video {vid!r}, annotation {i}")


def _check_results(results: Mapping, name: str) -> None:
    for vid, items in results.items():
        if not isinstance(items, list):
            raise DataError(f"{name}: video {vid!r}: predictions must be a list")
        for i, item in enumerate(items):
            keys = ("segment", "label", "score")
            _check_item(item, keys, f"{name}: video {vid!r}, prediction {i}")


def _check_segment_lists(mapping: Iterable[tuple[str, Any]], name: str, scored: bool) -> None:
    for vid, segments in mapping:
        for i, seg in enumerate(segments):
            where = f"{name}: video {vid!r}, segment {i}"
            _segment_bounds((seg.start, seg.end), where)
            _check_label(seg.label, where)
            if scored:
                _check_score(seg.score, where)


# ---------------------------------------------------------------------------------------------
# Fast path: raw values -> arrays, checked all at once. None means "something is wrong".


def _all_strings(values: list) -> bool:
    return all(issubclass(t, str) for t in set(map(type, values)))


def _bounds_array(bounds: list) -> np.ndarray | None:
    if not bounds:
        return np.zeros((0, 2))
    if set(map(len, bounds)) != {2}:
        return None
    if not _BOOLS.isdisjoint(map(type, itertools.chain.from_iterable(bounds))):
        return None
    flat = np.fromiter(itertools.chain.from_iterable(bounds), np.float64, 2 * len(bounds))
    seg = flat.reshape(-1, 2)
    if not np.isfinite(seg).all():
        return None
    if not (seg[:, 0] <= seg[:, 1]).all():
        return None
    return seg


def _ground_truth_arrays(
    videos: list[str], counts: list[int], bounds: list, labels: list
) -> GroundTruth | None:
    seg = _bounds_array(bounds)
    if seg is None or not _all_strings(labels):
        return None
    class_index = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    return GroundTruth(
        class_index=class_index,
        video_index={vid: i for i, vid in enumerate(videos)},
        video=np.repeat(np.arange(len(videos), dtype=np.int64), counts),
        start=seg[:, 0].copy(),
        end=seg[:, 1].copy(),
        label=np.fromiter(map(class_index.__getitem__, labels), np.int64, len(labels)),
    )


def _no_segments(gt: GroundTruth | None, message: str) -> GroundTruth | None:
    if gt is not None and len(gt.label) == 0:
        raise DataError(message)
    return gt


def _stream_as_database(stream: Mapping, name: str, subset: str | None) -> dict:
    file, segments = stream.get("file"), stream.get("segments")
    if not isinstance(file, str) or not isinstance(segments, list):
        raise DataError(f"{name}: a splice ground truth needs 'stream.file' (a string) and "
                        "'stream.segments' (a list)")
    annotations = []
    for i, seg in enumerate(segments):
        if not isinstance(seg, Mapping) or not {"start", "end", "label"} <= set(seg):
            raise DataError(f"{name}: stream.segments[{i}] needs start, end and label")
        annotations.append({"segment": [seg["start"], seg["end"]], "label": seg["label"]})
    vid = Path(file.replace("\\", "/")).stem
    return {"database": {vid: {"subset": subset or "test", "annotations": annotations}}}


def parse_ground_truth(data: Mapping, name: str, subset: str | None = "test") -> GroundTruth:
    """Keep the videos of ``subset`` (all when None), as the official reader does.

    Also reads the ground truth a splice writes beside its stream (the shipped example's
    ``*.gt.json``: ``{"stream": {"file", "segments": [{"start", "end", "label"}]}}``): one
    video, named by the file's stem, in every subset."""
    if "database" not in data and isinstance(data.get("stream"), Mapping):
        data = _stream_as_database(data["stream"], name, subset)
    database = data.get("database")
    if not isinstance(database, Mapping):
        raise DataError(f"{name}: ground truth needs a 'database' object of videos")
    gt = None
    try:
        videos, counts, bounds, labels = [], [], [], []
        for vid, entry in database.items():
            if subset is not None and entry["subset"] != subset:
                continue
            annotations = entry["annotations"]
            if type(annotations) is not list:
                raise TypeError
            videos.append(vid)
            counts.append(len(annotations))
            for ann in annotations:
                bounds.append(ann["segment"])
                labels.append(ann["label"])
        gt = _ground_truth_arrays(videos, counts, bounds, labels)
    except _RAW_ERRORS:
        gt = None
    if gt is None:
        _check_database(database, name, subset)
        raise DataError(f"{name}: malformed ground truth")  # safety net; the check names the item
    which = "any subset" if subset is None else f"subset {subset!r}"
    return _no_segments(gt, f"{name}: no ground-truth segments in {which}")


def ground_truth_from_segments(ground_truth: Mapping | Iterable, name: str) -> GroundTruth:
    """Ground truth from ``{vid: [Segment]}`` or from Video objects (``.vid``, ``.segments``)."""
    if isinstance(ground_truth, Mapping):
        items = list(ground_truth.items())
    else:
        items = [(video.vid, video.segments) for video in ground_truth]
    try:
        gt = _ground_truth_arrays(
            [vid for vid, _ in items],
            [len(segs) for _, segs in items],
            [(s.start, s.end) for _, segs in items for s in segs],
            [s.label for _, segs in items for s in segs],
        )
    except _RAW_ERRORS:
        gt = None
    if gt is None:
        _check_segment_lists(items, name, scored=False)
        raise DataError(f"{name}: malformed ground-truth segments")
    return _no_segments(gt, f"{name}: no ground-truth segments")


def _predictions_arrays(
    gt: GroundTruth, videos: list, counts: list[int], bounds: list, labels: list, scores: list
) -> tuple[Predictions, np.ndarray] | None:
    """Predictions of known labels, plus the raw indices of those with unknown labels."""
    seg = _bounds_array(bounds)
    if seg is None or not _all_strings(labels):
        return None
    score = np.array(scores)
    if len(scores) and (score.dtype.kind not in "iuf" or score.ndim != 1):  # strings, None, all-bool,
        return None  # [0.5] lists: the item check names them
    if not _BOOLS.isdisjoint(map(type, scores)):  # true mixed with numbers would read as 1.0
        return None
    score = score.astype(np.float64)
    if not np.isfinite(score).all():
        return None
    label = np.array([gt.class_index.get(x, -1) for x in labels], dtype=np.int64)
    video_of_video = np.array([gt.video_index.get(v, -1) for v in videos], dtype=np.int64)
    video = np.repeat(video_of_video, counts)
    known = label >= 0
    pred = Predictions(
        video=video[known], start=seg[known, 0], end=seg[known, 1],
        label=label[known], score=score[known],
    )
    return pred, np.flatnonzero(~known)


def _unknown_label_error(
    name: str, gt: GroundTruth, unknown: np.ndarray, videos: list, counts: list, labels: list
) -> DataError:
    first = int(unknown[0])
    vid = videos[int(np.searchsorted(np.cumsum(counts), first, side="right"))]
    known = ", ".join(repr(k) for k in gt.class_index)
    return DataError(
        f"{name}: label {labels[first]!r} (first in video {vid!r}) has no ground-truth segment; "
        f"ground-truth labels are {known}. To drop such predictions (they cannot change any "
        f"ground-truth class's AP) use --ignore-unknown-labels (API: unknown_labels='ignore')."
    )


def _finish_predictions(
    gt: GroundTruth, name: str, unknown_labels: str, raw: tuple, check
) -> Predictions:
    if unknown_labels not in UNKNOWN_LABEL_POLICIES:
        raise ValueError(f"unknown_labels must be one of {UNKNOWN_LABEL_POLICIES}")
    try:
        out = _predictions_arrays(gt, *raw)
    except _RAW_ERRORS:
        out = None
    if out is None:
        check()
        raise DataError(f"{name}: malformed predictions")  # safety net; the check names the item
    pred, unknown = out
    if len(unknown) and unknown_labels == "error":
        videos, counts, _, labels, _ = raw
        raise _unknown_label_error(name, gt, unknown, videos, counts, labels)
    return replace(pred, ignored=len(unknown))


def parse_predictions(
    data: Mapping, name: str, gt: GroundTruth, unknown_labels: str = "error"
) -> Predictions:
    """Read ``results``; a video absent from the evaluated ground truth gets index -1 (its
    predictions are false positives). A label that no ground-truth segment has makes the
    official code crash (KeyError); here it is a DataError, or dropped with
    ``unknown_labels="ignore"`` (such predictions cannot change any ground-truth class's AP)."""
    results = data.get("results")
    if not isinstance(results, Mapping):
        raise DataError(f"{name}: predictions need a 'results' object of videos")
    try:
        lists = list(results.values())
        if not all(type(items) is list for items in lists):
            raise TypeError
        raw = (
            list(results.keys()),
            [len(items) for items in lists],
            [item["segment"] for items in lists for item in items],
            [item["label"] for items in lists for item in items],
            [item["score"] for items in lists for item in items],
        )
    except _RAW_ERRORS:
        _check_results(results, name)
        raise DataError(f"{name}: malformed predictions") from None
    return _finish_predictions(gt, name, unknown_labels, raw, lambda: _check_results(results, name))


def predictions_from_segments(
    predictions: Mapping, name: str, gt: GroundTruth, unknown_labels: str = "ignore"
) -> Predictions:
    """Predictions from ``{vid: [Segment]}`` (scores may be numpy scalars)."""
    items = list(predictions.items())
    raw = (
        [vid for vid, _ in items],
        [len(segs) for _, segs in items],
        [(s.start, s.end) for _, segs in items for s in segs],
        [s.label for _, segs in items for s in segs],
        [s.score for _, segs in items for s in segs],
    )
    return _finish_predictions(
        gt, name, unknown_labels, raw, lambda: _check_segment_lists(items, name, scored=True)
    )

"""Annotation files of the TSL-300 layout: split lists, ground truth, fps and durations.

``gt.json`` / ``videosenti_gt.json``:
``{"database": {vid: {"subset", "annotations": [{"segment": [s, e], "label": "p"|"n"}]}}}``
with times in seconds (strings in the real files). The official code reads ``gt.json``, whose
train entries have no annotations; ``videosenti_gt.json`` holds all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config_bounds import FPS_BOUND
from ..errors import DataError
from .io import check_video_id, read_json, read_json_mapping, read_split
from .types import Segment

GT_FILES = {"gt": "gt.json", "videosenti": "videosenti_gt.json"}


def split_path(root: Path, split: str) -> Path:
    return root / f"split_{split}.txt"


DISJOINT_SPLITS = ("train", "test")
"""Splits that may never share a video: a test video seen in training inflates every figure."""


def check_disjoint_splits(root: Path, split: str, vids: list[str]) -> None:
    """DataError naming both split files and the first video listed in train and in test."""
    if split not in DISJOINT_SPLITS:
        return
    for other in DISJOINT_SPLITS:
        other_path = split_path(root, other)
        if other == split or not other_path.is_file():
            continue
        shared = set(vids) & set(read_split(other_path))
        if shared:
            first = next(v for v in vids if v in shared)
            raise DataError(f"{split_path(root, split)}: video {first!r} is also in {other_path} "
                            f"({len(shared)} shared); train and test must not share videos")


def resolve_gt_file(gt: str) -> str:
    """``"gt"`` -> ``gt.json``, ``"videosenti"`` -> ``videosenti_gt.json``, else a file name."""
    return GT_FILES.get(gt, gt)


def parse_ground_truth(path: Path, class_names: tuple[str, ...]) -> dict[str, list[Segment]]:
    """Segments per video from a gt.json-style file (sorted by start), validated."""
    data = read_json(path, "ground truth")
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise DataError(f"{path}: malformed ground truth, expected {{\"database\": {{vid: ...}}}}")
    out: dict[str, list[Segment]] = {}
    for vid, entry in database.items():
        check_video_id(vid, path)
        annotations = entry.get("annotations", []) if isinstance(entry, dict) else None
        if not isinstance(annotations, list):
            raise DataError(f"{path}: video {vid!r}: 'annotations' must be a list")
        segments = []
        for k, ann in enumerate(annotations):
            try:
                segment = ann["segment"]
                if not isinstance(segment, list) or any(isinstance(x, bool) for x in segment):
                    raise TypeError  # "12" would unpack to [1, 2]; true/false are not times
                start, end = (float(x) for x in segment)
                label = ann["label"]
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: video {vid!r} annotation {k}: expected "
                                f"{{\"segment\": [start, end], \"label\": ...}}, got {ann!r}") from None
            if label not in class_names:
                raise DataError(f"{path}: video {vid!r} annotation {k}: unknown class label "
                                f"{label!r}; known classes {list(class_names)}")
            if not (np.isfinite(start) and np.isfinite(end) and 0 <= start < end):
                raise DataError(f"{path}: video {vid!r} annotation {k}: bad segment "
                                f"[{start}, {end}] (need 0 <= start < end)")
            segments.append(Segment(start, end, label))
        out[vid] = sorted(segments, key=lambda s: (s.start, s.end))
    return out


@dataclass
class Annotations:
    """Everything but features and points for one split."""

    vids: list[str]
    segments: dict[str, list[Segment]]
    fps: dict[str, float]
    durations: dict[str, float]
    gt_path: Path


def read_annotations(root: Path, split: str, gt: str, class_names: tuple[str, ...]) -> Annotations:
    """Read and cross-check the split list, ground truth, fps and (optional) durations."""
    vids = read_split(split_path(root, split))
    gt_path = root / resolve_gt_file(gt)
    segments = parse_ground_truth(gt_path, class_names)
    fps_path = root / "fps_dict.json"
    fps = read_json_mapping(fps_path, "fps per video")
    duration_path = root / "len_duration_dict.json"
    durations = read_json_mapping(duration_path, "duration per video") if duration_path.is_file() else {}
    for vid in vids:
        if vid not in segments:
            raise DataError(f"{gt_path}: video {vid!r} of split_{split}.txt has no entry")
        if vid not in fps:
            raise DataError(f"{fps_path}: video {vid!r} of split_{split}.txt has no fps")
        if not FPS_BOUND.holds(fps[vid]):
            raise DataError(f"{fps_path}: video {vid!r} has a bad fps {fps[vid]!r} (must be "
                            f"{FPS_BOUND.describe()})")
    check_disjoint_splits(root, split, vids)
    return Annotations(vids=vids, segments={v: segments[v] for v in vids},
                       fps={v: fps[v] for v in vids},
                       durations={v: durations[v] for v in vids if v in durations}, gt_path=gt_path)

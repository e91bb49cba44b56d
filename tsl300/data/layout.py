"""Writers for the TSL-300 on-disk layout (used by ``tsl300 synth`` and ``tsl300 extract``).

Every file goes through a temporary file + ``os.replace`` (:mod:`tsl300.data.io`), so a
reader never sees half a file and an interrupted batch job can resume. Writers take values
in the on-disk form: ``logmfcc`` as ``(>= 32 T, 60)`` dB, other modalities as stored.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..classes import CLASS_CODES
from .annotations import split_path
from .features import (LOGMEL_MODALITY, MISSING_SUFFIX, SPEC_FILE, denormalize_logmel,
                       feature_dir)
from .io import (POINT_COLUMNS, atomic_save_npy, atomic_write_bytes, atomic_write_json,
                 atomic_write_text, check_video_id, natsorted)
from .points import ANNOTATOR_DIR, POINT_LABELS_CSV
from .types import Segment, Video


def write_split(root, split: str, vids: Iterable[str]) -> Path:
    """``split_{split}.txt``: one id per line, in the given order."""
    vids = [check_video_id(v, f"split {split!r}") for v in vids]
    path = split_path(Path(root), split)
    atomic_write_text(path, "".join(v + "\n" for v in vids))
    return path


def _segment_entry(seg: Segment) -> dict:
    # The real files store times as strings of seconds; keep that form (ms precision).
    return {"segment": [_seconds_str(seg.start), _seconds_str(seg.end)], "label": seg.label}


def _seconds_str(x: float) -> str:
    return repr(round(float(x), 3))


def gt_database(subsets: Mapping[str, str], segments: Mapping[str, list[Segment]],
                blank_subsets: Iterable[str] = ()) -> dict:
    """A gt.json dict. Videos whose subset is in ``blank_subsets`` get ``annotations: []``
    (the official gt.json leaves train videos without annotations)."""
    blank = set(blank_subsets)
    return {"database": {vid: {"subset": subset, "annotations": [] if subset in blank else
                               [_segment_entry(s) for s in segments.get(vid, [])]}
                         for vid, subset in subsets.items()}}


def write_gt(root, database: dict, filename: str = "gt.json") -> Path:
    path = Path(root) / filename
    atomic_write_json(path, database)
    return path


def write_json_dict(root, filename: str, mapping: Mapping) -> Path:
    path = Path(root) / filename
    atomic_write_json(path, dict(mapping))
    return path


def points_table(rows: Iterable[tuple[str, int, int, int]], classes: tuple[str, ...] = CLASS_CODES,
                 ) -> pd.DataFrame:
    """Point rows ``(video_id, class_index, start_frame, stop_frame)`` -> point-file table;
    ``point = (start_frame + stop_frame) // 2`` as in every real row."""
    table = pd.DataFrame(list(rows), columns=["video_id", "class_index", "start_frame", "stop_frame"])
    table["class"] = [classes[i] for i in table["class_index"]]
    table["point"] = (table["start_frame"] + table["stop_frame"]) // 2
    return table[list(POINT_COLUMNS)]


def write_point_file(path, table: pd.DataFrame) -> Path:
    """A point file with the official header, no index, no spaces."""
    path = Path(path)
    atomic_write_bytes(path, table[list(POINT_COLUMNS)].to_csv(index=False, lineterminator="\n").encode())
    return path


def write_annotator_files(root, tables: list[pd.DataFrame]) -> list[Path]:
    """``point_gaussian/train/point_anno_{k}.txt`` for each annotator table."""
    folder = Path(root).joinpath(*ANNOTATOR_DIR)
    return [write_point_file(folder / f"point_anno_{k}.txt", t) for k, t in enumerate(tables)]


def write_point_labels(root, table: pd.DataFrame) -> Path:
    return write_point_file(Path(root).joinpath(*POINT_LABELS_CSV), table)


def write_features(root, split: str, vid: str, features: Mapping[str, np.ndarray | None],
                   dtype=np.float32) -> list[Path]:
    """``features/{split}/{modality}/{vid}.npy`` for each modality; ``None`` writes the
    ``{vid}.missing`` marker instead (the video has no such modality)."""
    check_video_id(vid, f"features of split {split!r}")
    written = []
    for name, array in features.items():
        folder = feature_dir(Path(root), split, name)
        if array is None:
            marker = folder / (vid + MISSING_SUFFIX)
            atomic_write_bytes(marker, b"")
            written.append(marker)
            continue
        path = folder / f"{vid}.npy"
        atomic_save_npy(path, np.asarray(array, dtype=dtype))
        written.append(path)
    return written


def write_spec(root, split: str, modality: str, spec: Mapping) -> Path:
    """``features/{split}/{modality}/spec.json`` (the extractor spec)."""
    path = feature_dir(Path(root), split, modality) / SPEC_FILE
    atomic_write_json(path, dict(spec), indent=2)
    return path


def video_to_disk_features(video: Video, normalized_logmel: bool = True) -> dict[str, np.ndarray | None]:
    """A loaded :class:`Video`'s features in on-disk form: ``logmfcc`` (T, 32, 60) back to
    (32 T, 60) dB; modalities listed in ``video.missing`` become ``None`` (marker)."""
    out: dict[str, np.ndarray | None] = {}
    for name, array in video.features.items():
        if name in video.missing:
            out[name] = None
        elif name == LOGMEL_MODALITY and array.ndim == 3:
            flat = array.reshape(-1, array.shape[-1])
            out[name] = denormalize_logmel(flat) if normalized_logmel else flat
        else:
            out[name] = array
    return out


def write_layout(root, videos: Iterable[Video], *, classes: tuple[str, ...] = CLASS_CODES,
                 official_gt: bool = True, write_feature_files: bool = True,
                 normalized_logmel: bool = True) -> Path:
    """Write videos (any mix of subsets) as a complete dataset in the TSL-300 layout.

    Writes ``split_{subset}.txt``, ``videosenti_gt.json`` (all segments), ``gt.json`` (train
    annotations blanked when ``official_gt``, as the official file), ``fps_dict.json``,
    ``len_duration_dict.json``, ``point_gaussian/point_labels.csv`` and
    ``point_gaussian/train/point_anno_0.txt`` from the videos' points (one annotator), and
    the feature files. Returns ``root``.
    """
    root = Path(root)
    videos = list(videos)
    subsets = {v.vid: v.subset for v in videos}
    segments = {v.vid: v.segments for v in videos}
    for subset in sorted(set(subsets.values())):
        write_split(root, subset, natsorted(v for v, s in subsets.items() if s == subset))
    write_gt(root, gt_database(subsets, segments), "videosenti_gt.json")
    write_gt(root, gt_database(subsets, segments, ["train"] if official_gt else []), "gt.json")
    write_json_dict(root, "fps_dict.json", {v.vid: float(v.fps) for v in videos})
    write_json_dict(root, "len_duration_dict.json",
                    {v.vid: float(v.duration) for v in videos if v.duration is not None})
    rows = [(v.vid, int(c), int(f), int(f)) for v in videos if v.subset == "train"
            for f, c in zip(v.point_frames, v.points[:, 1])]
    table = points_table(rows, classes)
    write_point_labels(root, table)
    write_annotator_files(root, [table])
    if write_feature_files:
        for v in videos:
            write_features(root, v.subset, v.vid, video_to_disk_features(v, normalized_logmel))
    return root

"""``tsl300 dataset build``: a folder of videos + point files (+ segments) -> a dataset that
``tsl300 train`` and ``tsl300 test`` read as they are (the layout of docs/dataset_layout.md).

Split rule (fixed, seeded, never tuned on results): a video is labelled when every point file
has points for it. Videos with segments are the test candidates: those without points always go
to test; of those with both, a seeded draw adds videos until test holds ``test_fraction`` of all
labelled videos (rounded, at least one when any video has segments). Every other labelled video
is train. Without a segments file there is no test split (training only).

Features come from the existing extractors through the same store as ``tsl300 extract``
(resumable: a video already extracted is skipped). Points become frames on the feature grid
(``frame = floor(time * fps)``); a point in the last, incomplete snippet moves to the last
complete one (the features have no row there) and is counted in the report.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..classes import SENTIMENT_TO_CODE
from ..data.features import ModalityStore
from ..data.io import atomic_write_json, natsorted, read_json
from ..data.layout import (gt_database, points_table, write_annotator_files, write_gt, write_point_labels,
                           write_split)
from ..data.types import Segment
from ..data.user_labels import PointLabel, read_points, read_segments
from ..errors import DataError, Tsl300Error
from ..timegrid import SNIPPET_FRAMES
from .folder import VideoFolder, scan_folder

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_EXTRACTORS = "default"
SOURCES_FILE = "videos.json"
"""``{vid: video path}``: where each video of the dataset came from (for ``tsl300 view``)."""


@dataclass
class BuildReport:
    root: Path
    train: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    extracted: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)
    moved_points: int = 0
    n_points: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"dataset in {self.root}: {len(self.train)} train, {len(self.test)} test video(s); "
                 f"extracted {len(self.extracted)}, reused {len(self.reused)} already extracted; "
                 f"points per annotator file: {self.n_points}"]
        if not self.test:
            lines.append("no test split (give --segments to hold out videos with ground truth)")
        if self.moved_points:
            lines.append(f"{self.moved_points} point(s) in a video's last, incomplete snippet moved to the "
                         "last complete one")
        for what, items in (("skipped (not a usable video)", self.skipped_files),
                            ("left out (no points in every point file, no segments)", self.unlabelled),
                            ("failed to extract (left out)", self.failed)):
            if items:
                lines.append(f"{len(items)} {what}:\n" + "\n".join(f"  {x}" for x in items))
        return "\n".join(lines)


def choose_splits(point_vids: set[str], segment_vids: set[str], test_fraction: float, seed: int
                  ) -> tuple[list[str], list[str]]:
    """(train, test) by the rule in the module docstring."""
    if not 0 <= test_fraction < 1:
        raise DataError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    labelled = point_vids | segment_vids
    test = set(segment_vids - point_vids)
    both = natsorted(segment_vids & point_vids)
    if segment_vids:
        target = max(1, round(test_fraction * len(labelled))) if test_fraction > 0 else 0
        random.Random(seed).shuffle(both)
        test |= set(both[:max(0, target - len(test))])
    return natsorted(point_vids - test), natsorted(test)


def _extract(folder: VideoFolder, out: Path, split: str, vids: list[str], names: list[str],
             report: BuildReport, progress: bool) -> None:
    from ..extractors import FeatureStore, extract_video, get_extractor

    extractors = [get_extractor(n) for n in names]
    store = FeatureStore(out, split)
    store.prepare([e.spec() for e in extractors])
    modalities = [e.modality for e in extractors]
    for vid in vids:
        if store.is_done(vid, modalities):
            report.reused.append(vid)
            continue
        if progress:
            print(f"extract {split}/{vid}", flush=True)
        try:
            result = extract_video(folder.videos[vid].path, extractors)
        except Tsl300Error as exc:
            report.failed.append(str(exc))
            continue
        store.write_video(vid, result.stored, result.missing, result.fps, result.duration)
        report.extracted.append(vid)


def _snippets(out: Path, split: str, vid: str) -> int:
    """T of a video: the minimum over its stored modalities (as the dataset loader)."""
    folder = out / "features" / split
    counts = []
    for modality in sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        store = ModalityStore(out, split, modality)
        if not store.is_missing(vid):
            counts.append(store.num_snippets(store.raw_shape(vid)))
    return min(counts)


def _point_rows(points: list[PointLabel], train: set[str], fps: dict[str, float], lengths: dict[str, int],
                report: BuildReport) -> list[tuple[str, int, int, int]]:
    rows = []
    for p in points:
        if p.video not in train:
            continue
        frame = int(math.floor(p.time * fps[p.video] + 1e-6))
        last = lengths[p.video] * SNIPPET_FRAMES - 1
        if frame > last:
            frame = last
            report.moved_points += 1
        rows.append((p.video, 1 if SENTIMENT_TO_CODE[p.label] == "p" else 0, frame, frame))
    rows.sort(key=lambda r: (r[0], r[2], r[1]))
    return rows


def build_dataset(videos, points, out, *, segments=None, test_fraction: float = DEFAULT_TEST_FRACTION,
                  seed: int = 0, extractors: str = DEFAULT_EXTRACTORS, progress: bool = False) -> BuildReport:
    """Build the dataset folder ``out`` (see the module docstring); returns what was done."""
    from ..extractors import expand_names

    point_files = [points] if isinstance(points, (str, Path)) else list(points)
    if not point_files:
        raise DataError("give at least one points file")
    out = Path(out)
    folder = scan_folder(videos)
    if not folder.videos:
        raise DataError(f"{videos}: no usable video\n{folder.skipped_report()}")
    durations = folder.durations
    tables = [read_points(p, durations) for p in point_files]
    seg_rows = read_segments(segments, durations) if segments else []
    point_vids = set.intersection(*[{p.video for p in t} for t in tables])
    segment_vids = {s.video for s in seg_rows}
    train, test = choose_splits(point_vids, segment_vids, test_fraction, seed)
    if not train:
        raise DataError("no video has points in every point file: nothing to train on")

    report = BuildReport(out, skipped_files=[f"{p}: {why}" for p, why in folder.skipped],
                         unlabelled=natsorted(set(durations) - point_vids - segment_vids))
    names = expand_names(extractors)
    out.mkdir(parents=True, exist_ok=True)
    for split, vids in (("train", train), ("test", test)):
        if vids:
            _extract(folder, out, split, vids, names, report, progress)
    fps = {k: float(v) for k, v in read_json(out / "fps_dict.json", "frame rates").items()}
    failed = {vid for vid in train + test if vid not in fps}
    report.train = [v for v in train if v not in failed]
    report.test = [v for v in test if v not in failed]
    if not report.train:
        raise DataError("every training video failed to extract:\n" + "\n".join(report.failed))

    lengths = {vid: _snippets(out, "train", vid) for vid in report.train}
    train_set = set(report.train)
    write_split(out, "train", report.train)
    if report.test:
        write_split(out, "test", report.test)
    else:
        (out / "split_test.txt").unlink(missing_ok=True)  # a stale test split from an earlier build
    subsets = {**{v: "train" for v in report.train}, **{v: "test" for v in report.test}}
    by_video: dict[str, list[Segment]] = {}
    for s in seg_rows:
        by_video.setdefault(s.video, []).append(Segment(s.start, s.end, SENTIMENT_TO_CODE[s.label]))
    write_gt(out, gt_database(subsets, by_video, ["train"]), "gt.json")
    write_gt(out, gt_database(subsets, by_video), "videosenti_gt.json")
    point_tables = [points_table(_point_rows(t, train_set, fps, lengths, report)) for t in tables]
    for vid in report.train:  # the loader's annotator draw needs every train video in every file
        if any(not (t["video_id"] == vid).any() for t in point_tables):
            raise DataError(f"video {vid!r} has no points in one of the point files")
    report.n_points = [int(len(t)) for t in point_tables]
    for stale in (out / "point_gaussian" / "train").glob("point_anno_*.txt"):
        stale.unlink()  # an earlier build with more point files must not leave an annotator behind
    write_annotator_files(out, point_tables)
    write_point_labels(out, point_tables[0])
    atomic_write_json(out / SOURCES_FILE, {vid: str(folder.videos[vid].path.resolve())
                                           for vid in report.train + report.test}, indent=1)
    return report


def video_sources(root) -> dict[str, str]:
    """``videos.json`` of a built dataset (``{}`` when absent)."""
    path = Path(root) / SOURCES_FILE
    return read_json(path, "video sources") if path.is_file() else {}


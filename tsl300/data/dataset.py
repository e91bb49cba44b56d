"""``load_dataset``: a PyTorch-free sequence of :class:`~tsl300.data.types.Video`.

Everything that can be checked without reading feature values is checked when the dataset is
built (files, shapes from the .npy headers, lengths across modalities, points inside the
video, classes, ids), so a bad dataset fails at once with one :class:`DataError` naming the
file. Feature values (NaN/inf) are checked when a video is loaded, or up front with
``check_values=True``.

Length rule across modalities:

- ``layout="tsl300"``: T = min over modalities (official: ``min(T_rgb, N_mel // 32)``);
- ``layout="generic"``: lengths may differ by at most one snippet (rounding at the end of a
  video), T = the minimum; a larger difference is a :class:`DataError`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..classes import CLASS_CODES
from ..errors import DataError
from ..timegrid import SNIPPET_FRAMES, frame_to_snippet
from .annotations import Annotations, read_annotations
from .features import LOGMEL_MODALITY, ModalityStore, discover_modalities
from .points import select_points
from .types import Video

TSL300_MODALITIES = ("rgb", LOGMEL_MODALITY)
LAYOUTS = ("auto", "tsl300", "generic")
GENERIC_LENGTH_TOLERANCE = 1
"""Generic layout: modalities of one video may differ by this many snippets (cut to the min)."""


def _choose_layout(layout: str, modalities: list[str]) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout != "auto":
        return layout
    return "tsl300" if set(modalities) <= set(TSL300_MODALITIES) else "generic"


class FeatureDataset(Sequence):
    """The videos of one split. ``dataset[i]`` loads video ``i`` (a :class:`Video`).

    Attributes: ``root``, ``split``, ``layout``, ``vids``, ``classes`` (class names in index
    order), ``modalities``, ``modality_shapes`` (name -> per-snippet shape), ``specs`` (name ->
    the modality's ``spec.json`` as a dict, ``{}`` when absent), ``lengths`` (vid -> T),
    ``annotator_of_video`` (vid -> annotator file index, for ``points="random"`` or an index),
    ``point_files`` (the point files read).
    """

    def __init__(self, root: Path, split: str, annotations: Annotations, stores: dict[str, ModalityStore],
                 layout: str, classes: tuple[str, ...], points: pd.DataFrame | None,
                 annotator_of_video: dict[str, int], point_files: list[Path], cache: bool):
        self.root, self.split, self.layout, self.classes = root, split, layout, tuple(classes)
        self._ann, self._stores = annotations, stores
        self.modalities = tuple(stores)
        self.specs = {name: dict(store.spec) for name, store in stores.items()}
        self.annotator_of_video = annotator_of_video
        self.point_files = point_files
        self._cache: dict[int, Video] | None = {} if cache else None
        self._scan_lengths()
        self._points = self._group_points(points)

    # -- construction-time checks -------------------------------------------------------
    def _scan_lengths(self) -> None:
        shapes: dict[str, tuple[int, ...]] = {}
        first_file: dict[str, Path] = {}
        self.lengths: dict[str, int] = {}
        self._missing: dict[str, tuple[str, ...]] = {}
        for vid in self._ann.vids:
            per_modality = {}
            missing = []
            for name, store in self._stores.items():
                if store.is_missing(vid):
                    missing.append(name)
                    continue
                raw = store.raw_shape(vid)
                snippet_shape = store.per_snippet_shape(raw)
                if name not in shapes:
                    shapes[name], first_file[name] = snippet_shape, store.path(vid)
                elif shapes[name] != snippet_shape:
                    raise DataError(f"{store.path(vid)}: per-snippet shape {snippet_shape} differs "
                                    f"from {shapes[name]} in {first_file[name]}")
                per_modality[name] = store.num_snippets(raw)
            if not per_modality:
                raise DataError(f"{self.root / 'features' / self.split}: video {vid!r} has no "
                                f"features in any of {list(self._stores)}")
            t_min, t_max = min(per_modality.values()), max(per_modality.values())
            if self.layout == "generic" and t_max - t_min > GENERIC_LENGTH_TOLERANCE:
                detail = ", ".join(f"{m}: {t}" for m, t in per_modality.items())
                raise DataError(f"{self.root / 'features' / self.split}: video {vid!r} has "
                                f"modalities of unequal length ({detail} snippets); the generic "
                                f"layout allows a difference of {GENERIC_LENGTH_TOLERANCE}")
            if t_min < 1:
                name = min(per_modality, key=per_modality.get)
                raise DataError(f"{self._stores[name].path(vid)}: video {vid!r} has no complete "
                                f"snippet in modality {name!r}")
            self.lengths[vid] = t_min
            self._missing[vid] = tuple(missing)
        for name, store in self._stores.items():
            if name not in shapes and store.declared_snippet_shape() is not None:
                shapes[name] = store.declared_snippet_shape()  # every video lacks it: use the spec
            if name not in shapes:
                raise DataError(f"{store.folder}: no feature file for any video of split "
                                f"{self.split!r} and no 'dims' in its spec.json; cannot infer the "
                                f"shape of {name!r}")
        self.modality_shapes = {name: shapes[name] for name in self._stores}

    def _group_points(self, points: pd.DataFrame | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        grouped: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if points is None or points.empty:
            return grouped
        in_split = points[points["video_id"].isin(self.lengths)]
        for vid, rows in in_split.groupby("video_id", sort=False):
            frames = rows["point"].to_numpy(np.int64)
            classes = rows["class_index"].to_numpy(np.int64)
            snippets = frame_to_snippet(frames, SNIPPET_FRAMES)
            beyond = snippets >= self.lengths[vid]
            if beyond.any():
                k = int(np.flatnonzero(beyond)[0])
                source = self.point_files[self.annotator_of_video.get(vid, 0)]
                raise DataError(f"{source}: video {vid!r} has a point at frame {frames[k]} = snippet "
                                f"{snippets[k]}, beyond the video's {self.lengths[vid]} snippets")
            order = np.argsort(snippets, kind="stable")
            grouped[vid] = (np.stack([snippets[order], classes[order]], axis=1), frames[order])
        return grouped

    # -- sequence protocol --------------------------------------------------------------
    @property
    def vids(self) -> list[str]:
        return list(self._ann.vids)

    def __len__(self) -> int:
        return len(self._ann.vids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        video = self._load(self._ann.vids[index])
        if self._cache is not None:
            video.features = {k: np.array(v) for k, v in video.features.items()}
            self._cache[index] = video
        return video

    def get(self, vid: str) -> Video:
        """The video with id ``vid``."""
        try:
            index = self._ann.vids.index(vid)
        except ValueError:
            raise KeyError(vid) from None
        return self[index]

    def _load(self, vid: str) -> Video:
        T = self.lengths[vid]
        features = {}
        for name, store in self._stores.items():
            shape = self.modality_shapes[name]
            if name in self._missing[vid]:
                features[name] = np.zeros((T,) + shape, dtype=np.float32)
            else:
                features[name] = store.load(vid, T, shape)
        points, frames = self._points.get(vid, (np.zeros((0, 2), np.int64), np.zeros((0,), np.int64)))
        fps = self._ann.fps[vid]
        return Video(vid=vid, fps=fps, features=features, points=points.copy(), point_frames=frames.copy(),
                     segments=list(self._ann.segments[vid]), subset=self.split,
                     duration=self._ann.durations.get(vid, T * SNIPPET_FRAMES / fps),
                     missing=self._missing[vid])

    # -- helpers ------------------------------------------------------------------------
    def check_values(self) -> None:
        """Load every video once (raises DataError on NaN/inf features)."""
        for vid in self._ann.vids:
            self._load(vid)

    def ground_truth(self) -> dict:
        """The split's segments as a gt.json-style dict (for ``tsl300.eval``)."""
        return {"database": {vid: {"subset": self.split, "annotations": [
            {"segment": [s.start, s.end], "label": s.label} for s in self._ann.segments[vid]]}
            for vid in self._ann.vids}}

    def __repr__(self) -> str:
        return (f"FeatureDataset(root={str(self.root)!r}, split={self.split!r}, layout={self.layout!r}, "
                f"videos={len(self)}, modality_shapes={self.modality_shapes})")


def load_dataset(root, split: str, modalities=None, points="random", seed: int = 0, layout: str = "auto",
                 *, gt: str = "gt", classes: tuple[str, ...] = CLASS_CODES, normalize_logmel: bool = True,
                 mmap: bool = True, cache: bool = False, allow_missing: bool | None = None,
                 check_values: bool = False) -> FeatureDataset:
    """Open one split of a dataset in the TSL-300 layout (or the generic layout).

    Args:
        root: dataset folder (``split_{split}.txt``, ``gt.json``, ``fps_dict.json``,
            ``point_gaussian/``, ``features/{split}/{modality}/``).
        split: ``"train"``, ``"test"``, ...
        modalities: names to load; default all folders in ``features/{split}/``
            (``("rgb", "logmfcc")`` for the TSL-300 layout).
        points: ``"random"`` (the official seeded per-video choice among the annotator files
            ``point_gaussian/train/*``), ``"csv"`` (``point_gaussian/point_labels.csv``), an
            annotator index ``k``, or ``"none"``. Splits other than ``train`` have no points
            in TSL-300, so a missing annotator folder is only an error for ``train``. A video
            absent from the chosen point file gets no points (the official code would crash
            in training); methods that need points check ``len(video.points)``.
        seed: seed of the ``"random"`` choice (the official ``--seed``).
        layout: ``"tsl300"`` (T = min over modalities), ``"generic"`` (lengths within one
            snippet), or ``"auto"`` (``tsl300`` when the modalities are rgb/logmfcc only).
        gt: ``"gt"`` (gt.json, as the official code), ``"videosenti"`` (videosenti_gt.json,
            with train segments too) or a file name in ``root``.
        classes: class names in index order (TSL-300: n=0, p=1).
        normalize_logmel: map ``logmfcc`` with the official ``(x + 50) / 80``.
        mmap: open feature files memory-mapped (``np.load(mmap_mode="c")``, copy-on-write).
        cache: keep loaded videos in memory (copied out of the file).
        allow_missing: fill zeros for videos without a feature file (default: per modality,
            the spec's ``allow_missing``; ``{vid}.missing`` markers are always honoured).
        check_values: load every video now to check for NaN/inf.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist")
    if not isinstance(split, str) or not split or any(c in split for c in "/\\\x00") or ".." in split:
        raise ValueError(f"invalid split name {split!r}")
    if isinstance(points, bool) or not (points in ("random", "csv", "none") or isinstance(points, int)):
        raise ValueError(f"points must be 'random', 'csv', 'none' or an annotator index, got {points!r}")
    annotations = read_annotations(root, split, gt, tuple(classes))
    names = list(modalities) if modalities is not None else None
    chosen_layout = _choose_layout(layout, names or discover_modalities(root, split))
    if names is None:
        names = list(TSL300_MODALITIES) if chosen_layout == "tsl300" else discover_modalities(root, split)
    if not names:
        raise DataError(f"{root / 'features' / split}: no modality folders")
    stores = {n: ModalityStore(root, split, n, normalize=normalize_logmel, mmap=mmap,
                               allow_missing=allow_missing) for n in names}

    table, choice, files = None, {}, []
    if points != "none":
        annotator_dir = root / "point_gaussian" / "train"
        if points == "csv" or split == "train" or annotator_dir.is_dir():
            table, choice, files = select_points(root, points, seed, tuple(classes))
            in_split = set(annotations.vids)
            choice = {v: k for v, k in choice.items() if v in in_split}
    dataset = FeatureDataset(root, split, annotations, stores, chosen_layout, tuple(classes), table,
                             choice, files, cache)
    if check_values:
        dataset.check_values()
    return dataset

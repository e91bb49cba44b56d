"""In-memory form of one video of a dataset: what every loader yields and every model reads.

This is the contract between the data layer (TSL-300 layout, generic layout, synthetic data,
on-the-fly extraction) and the models, trainer and evaluator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Segment:
    """A ground-truth or predicted segment in seconds. ``label`` is a class name ('n'/'p')."""

    start: float
    end: float
    label: str
    score: float = 1.0


@dataclass
class Video:
    """One video: per-modality features on the snippet grid, point labels and ground truth.

    Attributes:
        vid: video id (file stem in the layout).
        fps: native frame rate; the time grid (``tsl300.timegrid``) converts with it.
        features: modality name -> array with first axis T (snippets), e.g.
            ``rgb`` (T, 1024) and ``logmfcc`` (T, 32, 60) for TSL-300. Every modality has the
            same T once loaded.
        points: int64 array (K, 2) of ``[snippet_index, class_index]`` rows sorted by snippet
            (class index into ``classes``; TSL-300: n=0, p=1). Empty (0, 2) for unlabelled videos.
        point_frames: int64 array (K,) of the annotated frame of each point (native fps).
        segments: ground-truth segments (may be empty; train videos in gt.json have none).
        subset: 'train', 'test' or 'val'.
        duration: seconds, when known (else T * 16 / fps).
        missing: names of modalities whose features are absent for this video (e.g. no audio
            track); their arrays are zeros and models mask them.
    """

    vid: str
    fps: float
    features: dict[str, np.ndarray]
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    point_frames: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))
    segments: list[Segment] = field(default_factory=list)
    subset: str = "train"
    duration: float | None = None
    missing: tuple[str, ...] = ()

    @property
    def num_snippets(self) -> int:
        return int(next(iter(self.features.values())).shape[0])

    def video_labels(self, num_classes: int) -> np.ndarray:
        """Multi-hot video-level labels from the points (train) or the segments (test)."""
        labels = np.zeros(num_classes, dtype=np.float32)
        if len(self.points):
            labels[np.unique(self.points[:, 1])] = 1.0
        return labels

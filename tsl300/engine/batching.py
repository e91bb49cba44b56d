"""Padded mini-batches of videos: one forward per batch, masks mark the real snippets.

``collate`` builds the batch dict documented in :mod:`tsl300.methods.base`. Videos of different
lengths are zero-padded to the longest one; ``mask`` (B, T) is True on real snippets and
``modality_mask`` says which videos have each modality. Methods must use the masks so that a
padded batch gives the same per-video outputs as running each video alone.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..data.types import Video


def label_distribution(points: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class point counts normalised to sum 1 (TSL-Net's label-based target); zeros if none."""
    counts = np.bincount(points[:, 1].astype(np.int64), minlength=num_classes)[:num_classes] \
        if len(points) else np.zeros(num_classes)
    total = counts.sum()
    return (counts / total if total else counts).astype(np.float32)


def video_labels(video: Video, classes: Sequence[str]) -> np.ndarray:
    """Multi-hot labels: from the points when there are any, else from the GT segments."""
    labels = video.video_labels(len(classes))
    if not labels.any() and video.segments:
        index = {name: i for i, name in enumerate(classes)}
        for seg in video.segments:
            if seg.label in index:
                labels[index[seg.label]] = 1.0
    return labels


def segment_array(video: Video, classes: Sequence[str]) -> np.ndarray:
    """Ground-truth segments as float64 (S, 3) rows ``[start_s, end_s, class_index]`` (classes
    not in ``classes`` left out); methods that simulate other supervision from the temporal
    annotations (BackTAL's background clicks) read them from the batch."""
    index = {name: i for i, name in enumerate(classes)}
    rows = [(s.start, s.end, index[s.label]) for s in video.segments if s.label in index]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def crop_video(video: Video, start: int, length: int) -> Video:
    """The snippets ``[start, start + length)`` of ``video``, with points shifted and clipped."""
    end = start + length
    keep = (video.points[:, 0] >= start) & (video.points[:, 0] < end) if len(video.points) else \
        np.zeros(0, dtype=bool)
    points = video.points[keep].copy()
    if len(points):
        points[:, 0] -= start
    return Video(vid=video.vid, fps=video.fps,
                 features={k: v[start:end] for k, v in video.features.items()},
                 points=points, point_frames=video.point_frames[keep] if len(video.point_frames) == len(keep)
                 else video.point_frames, segments=[], subset=video.subset, duration=video.duration,
                 missing=video.missing)


def random_crop(video: Video, max_snippets: int | None, rng: np.random.Generator) -> Video:
    """A random window of at most ``max_snippets``; the video itself when it is short enough."""
    length = video.num_snippets
    if not max_snippets or length <= max_snippets:
        return video
    start = int(rng.integers(0, length - max_snippets + 1))
    return crop_video(video, start, max_snippets)


def collate(videos: Sequence[Video], modalities: Sequence[str], classes: Sequence[str],
            device: torch.device | str | None = None) -> dict:
    """Pad ``videos`` into one batch dict (layout in :mod:`tsl300.methods.base`)."""
    if not videos:
        raise ValueError("cannot collate an empty list of videos")
    num_classes = len(classes)
    lengths = np.array([v.num_snippets for v in videos], dtype=np.int64)
    t_max = int(lengths.max())
    batch_size = len(videos)
    features, modality_mask = {}, {}
    for name in modalities:
        first = next((v.features[name] for v in videos if name in v.features), None)
        if first is None:
            raise KeyError(f"no video in the batch has modality {name!r}")
        out = np.zeros((batch_size, t_max) + first.shape[1:], dtype=np.float32)
        present = np.zeros(batch_size, dtype=bool)
        for i, video in enumerate(videos):
            array = video.features.get(name)
            if array is None or name in video.missing:
                continue
            out[i, : array.shape[0]] = array
            present[i] = True
        features[name] = torch.from_numpy(out)
        modality_mask[name] = torch.from_numpy(present)
    mask = torch.arange(t_max)[None, :] < torch.from_numpy(lengths)[:, None]
    batch = {
        "features": features,
        "mask": mask,
        "modality_mask": modality_mask,
        "lengths": torch.from_numpy(lengths),
        "points": [np.asarray(v.points, dtype=np.int64).reshape(-1, 2) for v in videos],
        "point_frames": [np.asarray(v.point_frames, dtype=np.int64) for v in videos],
        "video_labels": torch.from_numpy(np.stack([video_labels(v, classes) for v in videos])),
        "label_distribution": torch.from_numpy(
            np.stack([label_distribution(np.asarray(v.points).reshape(-1, 2), num_classes) for v in videos])),
        "vids": [v.vid for v in videos],
        "segments": [segment_array(v, classes) for v in videos],
        "fps": [float(v.fps) for v in videos],
    }
    return to_device(batch, device) if device is not None else batch


def to_device(batch: dict, device) -> dict:
    """Move the tensors of a batch to ``device`` (lists of arrays stay on the host)."""
    out = dict(batch)
    out["features"] = {k: v.to(device) for k, v in batch["features"].items()}
    out["modality_mask"] = {k: v.to(device) for k, v in batch["modality_mask"].items()}
    for key in ("mask", "lengths", "video_labels", "label_distribution"):
        out[key] = batch[key].to(device)
    return out


def epoch_batches(num_videos: int, batch_size: int, rng: np.random.Generator,
                  drop_last: bool = True) -> Iterator[np.ndarray]:
    """Index batches over one shuffled pass (``drop_last`` keeps every batch full)."""
    order = rng.permutation(num_videos)
    stop = num_videos - (num_videos % batch_size if drop_last and num_videos >= batch_size else 0)
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def sequential_batches(videos: Sequence[Video], batch_size: int) -> Iterator[list[Video]]:
    """Inference batches in order, grouping videos of similar length to limit padding."""
    order = sorted(range(len(videos)), key=lambda i: videos[i].num_snippets)
    for start in range(0, len(order), batch_size):
        yield [videos[i] for i in order[start:start + batch_size]]

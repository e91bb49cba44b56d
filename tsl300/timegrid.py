"""The one place that converts between snippet indices, frames and seconds.

TSL-300 convention: a snippet is ``SNIPPET_FRAMES = 16`` consecutive frames at the video's
native fps, start-aligned, so snippet ``i`` covers frames ``[16 i, 16 (i + 1))`` and seconds
``[16 i / fps, 16 (i + 1) / fps)``. A point annotated at frame ``f`` belongs to snippet
``f // 16`` (the official ``int(point / 16)``). At test time the official code upsamples the
per-snippet scores ``scale`` times (24) and maps upsampled index ``j`` to seconds
``j * 16 / (scale * fps)`` for a start and ``(j + 1) * 16 / (scale * fps)`` for an end.

Worked example (fps = 25, so one snippet = 16 / 25 = 0.64 s):

>>> frame_to_snippet(100)          # frame 100 lies in frames 96..111
6
>>> snippet_start(6, 25.0), snippet_end(6, 25.0)
(3.84, 4.48)
>>> seconds_to_snippet(4.0, 25.0)  # 4.0 s = frame 100
6
>>> num_snippets(n_frames=250)     # 10 s of video: 15 full snippets + 1 partial (zero-padded)
16
>>> upsampled_start(48, 25.0, scale=24), upsampled_end(48, 25.0, scale=24)
(1.28, 1.3066666666666666)

Anything that is not this grid (centre-aligned snippets, other strides, a feature extractor
with a hop in seconds) must convert here rather than in its own module.
"""
from __future__ import annotations

import math

import numpy as np

SNIPPET_FRAMES = 16
"""Frames per snippet (TSL-300, I3D non-overlapping clips)."""

MEL_FRAMES_PER_SNIPPET = 32
"""Log-mel frames per snippet in the TSL-300 audio features (two per video frame)."""


def snippet_seconds(fps: float, snippet_frames: int = SNIPPET_FRAMES) -> float:
    """Length of one snippet in seconds."""
    _check_fps(fps)
    return snippet_frames / float(fps)


def frame_to_snippet(frame, snippet_frames: int = SNIPPET_FRAMES):
    """Snippet holding frame ``frame`` (int or array): ``frame // 16``, as the official code."""
    if isinstance(frame, np.ndarray):
        return (frame // snippet_frames).astype(np.int64)
    return int(frame // snippet_frames)


def snippet_start_frame(index, snippet_frames: int = SNIPPET_FRAMES):
    """First frame of snippet ``index``."""
    return index * snippet_frames


def snippet_start(index, fps: float, snippet_frames: int = SNIPPET_FRAMES):
    """Start time in seconds of snippet ``index`` (scalar or array)."""
    _check_fps(fps)
    return index * snippet_frames / float(fps)


def snippet_end(index, fps: float, snippet_frames: int = SNIPPET_FRAMES):
    """End time in seconds (exclusive) of snippet ``index``."""
    _check_fps(fps)
    return (index + 1) * snippet_frames / float(fps)


def snippet_center(index, fps: float, snippet_frames: int = SNIPPET_FRAMES):
    """Centre time in seconds of snippet ``index``."""
    _check_fps(fps)
    return (index + 0.5) * snippet_frames / float(fps)


def seconds_to_frame(seconds, fps: float):
    """Frame index shown at time ``seconds`` (floor)."""
    _check_fps(fps)
    if isinstance(seconds, np.ndarray):
        return np.floor(seconds * fps + 1e-9).astype(np.int64)
    return int(math.floor(seconds * fps + 1e-9))


def seconds_to_snippet(seconds, fps: float, snippet_frames: int = SNIPPET_FRAMES):
    """Snippet that contains time ``seconds``."""
    return frame_to_snippet(seconds_to_frame(seconds, fps), snippet_frames)


def num_snippets(n_frames: int, snippet_frames: int = SNIPPET_FRAMES, pad_last: bool = True) -> int:
    """Number of snippets for a video of ``n_frames`` frames.

    ``pad_last=True`` counts a final partial snippet (I3D's zero-padded last clip, the
    TSL-300 features); ``False`` counts full snippets only (``frames // 16``).
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if pad_last:
        return -(-n_frames // snippet_frames)
    return n_frames // snippet_frames


def upsampled_start(index, fps: float, scale: int, snippet_frames: int = SNIPPET_FRAMES):
    """Start time of upsampled index ``index`` (``scale`` samples per snippet)."""
    _check_fps(fps)
    return index * snippet_frames / (scale * float(fps))


def upsampled_end(index, fps: float, scale: int, snippet_frames: int = SNIPPET_FRAMES):
    """End time (exclusive) of upsampled index ``index``."""
    _check_fps(fps)
    return (index + 1) * snippet_frames / (scale * float(fps))


def segment_to_snippets(start: float, end: float, fps: float, n_snippets: int | None = None,
                        snippet_frames: int = SNIPPET_FRAMES) -> tuple[int, int]:
    """Snippet range ``[first, last]`` (inclusive) overlapped by the segment ``[start, end)``."""
    first = seconds_to_snippet(max(start, 0.0), fps, snippet_frames)
    last = seconds_to_snippet(max(end - 1e-9, 0.0), fps, snippet_frames)
    if n_snippets is not None:
        first, last = min(first, n_snippets - 1), min(last, n_snippets - 1)
    return first, max(first, last)


def _check_fps(fps: float) -> None:
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")


def seconds_to_nearest_boundary(seconds, fps: float, snippet_frames: int = SNIPPET_FRAMES):
    """Nearest snippet boundary to time ``seconds``: ``round(seconds * fps / 16)`` with numpy's
    half-to-even rounding (RefineLoc's pseudo labels and ground-truth masks). Scalar or array;
    returns int64."""
    _check_fps(fps)
    value = np.round(np.asarray(seconds, dtype=np.float64) * float(fps) / snippet_frames)
    return value.astype(np.int64) if value.ndim else int(value)

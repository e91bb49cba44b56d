"""Timeline PNG of a localization result (matplotlib's Agg canvas: no display, no pyplot state)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .classes import SENTIMENTS, sentiment_of
from .data.io import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from .types import LocalizationResult

COLORS = dict(zip(SENTIMENTS, ("#c0392b", "#1e8449")))  # negative red, positive green
SCALE_NOTE = ("numbers on bars: segment score (outer-inner contrast; not a probability, can exceed 1); "
              "opacity: score / best score here ({best:.2f}); curves: per-snippet class scores in [0, 1]")


def segment_opacity(score: float, best: float) -> float:
    """Opacity of a segment bar: 0.25 for a score near 0, 1 for the best segment of the video."""
    return float(0.25 + 0.75 * min(max(score / max(best, 1e-9), 0.0), 1.0))


def plot_timeline(result: "LocalizationResult", path: str | os.PathLike,
                  ground_truth: Iterable[Any] | None = None) -> Path:
    """Score curves on top; detected (and ground-truth) segments as bars below.

    ``ground_truth`` holds objects with ``start``, ``end`` and ``label`` ('p'/'n' or
    'positive'/'negative'), e.g. :class:`tsl300.data.types.Segment`.
    """
    fig = timeline_figure(result, ground_truth)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def timeline_figure(result: "LocalizationResult", ground_truth: Iterable[Any] | None = None):
    """The matplotlib Figure of :func:`plot_timeline` (axes: curves, lanes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    gt = [(float(g.start), float(g.end), sentiment_of(g.label)) for g in (ground_truth or [])]
    lanes = [("detected", s) for s in SENTIMENTS] + ([("truth", s) for s in SENTIMENTS] if ground_truth is not None else [])
    duration = max(result.metadata.duration, 1e-3)

    fig = Figure(figsize=(12, 3.2 + 0.35 * len(lanes)), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 0.5 * len(lanes)]})

    starts, ends = result.snippet_starts, result.snippet_ends
    for col, name in enumerate(SENTIMENTS):
        if len(starts):
            xs = np.append(starts, ends[-1])
            ys = np.append(result.scores[:, col], result.scores[-1, col])
            top.step(xs, ys, where="post", color=COLORS[name], lw=1.5, label=f"{name} score")
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("class score")
    top.grid(alpha=0.3)
    top.legend(loc="upper right", fontsize=8)
    title = f"{result.video_id}  ({result.metadata.model_name or 'model'})"
    if result.metadata.audio_missing:
        title += "  [no audio: audio masked]"
    top.set_title(title, fontsize=10)

    best = max([s.score for s in result.segments] + [1e-9])
    for row, (kind, name) in enumerate(lanes):
        y = len(lanes) - 1 - row
        if kind == "detected":
            # full-height bars; the score is written on each and shown as opacity relative to the
            # best segment (scores are outer-inner contrasts: not probabilities, they can exceed 1)
            for s in (s for s in result.segments if s.label == name):
                bottom.broken_barh([(s.start, s.duration)], (y + 0.1, 0.8), color=COLORS[name],
                                   alpha=segment_opacity(s.score, best))
                bottom.text(s.start + 0.01 * duration, y + 0.5, f"{s.score:.2f}", va="center", fontsize=7,
                            color="white", clip_on=True)
        else:
            for start, end, label in gt:
                if label == name:
                    bottom.broken_barh([(start, end - start)], (y + 0.15, 0.7), facecolor="none",
                                       edgecolor=COLORS[name], hatch="//", lw=1.2)
    bottom.set_yticks([len(lanes) - 1 - r + 0.5 for r in range(len(lanes))])
    bottom.set_yticklabels([f"{'ground truth' if kind == 'truth' else kind} {name}" for kind, name in lanes],
                           fontsize=8)
    fig.text(0.01, 0.005, SCALE_NOTE.format(best=best if result.segments else 0.0), fontsize=7, color="#555")
    bottom.set_ylim(0, len(lanes))
    bottom.set_xlim(0, duration)
    bottom.set_xlabel("time (s)")
    bottom.grid(axis="x", alpha=0.3)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig

"""Timeline PNG of a localization result (matplotlib's Agg canvas: no display, no pyplot state)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .names import printable
from .classes import SENTIMENTS, sentiment_of
from .data.io import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from .types import LocalizationResult

COLORS = dict(zip(SENTIMENTS, ("#c0392b", "#1e8449")))  # negative red, positive green


def plot_timeline(result: "LocalizationResult", path: str | os.PathLike,
                  ground_truth: Iterable[Any] | None = None) -> Path:
    """Score curves on top; detected (and ground-truth) segments as bars below.

    ``ground_truth`` holds objects with ``start``, ``end`` and ``label`` ('p'/'n' or
    'positive'/'negative'), e.g. :class:`tsl300.data.types.Segment`.
    """
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
    title = f"{printable(result.video_id)}  ({result.metadata.model_name or 'model'})"
    if result.metadata.audio_missing:
        title += "  [no audio: audio masked]"
    top.set_title(title, fontsize=10)

    for row, (kind, name) in enumerate(lanes):
        y = len(lanes) - 1 - row
        if kind == "detected":
            # one thin bar per segment, raised by its score, so overlapping proposals stay apart
            for s in (s for s in result.segments if s.label == name):
                level = min(max(s.score, 0.0), 1.0)
                bottom.broken_barh([(s.start, s.duration)], (y + 0.08 + 0.76 * level, 0.08),
                                   color=COLORS[name], alpha=0.45 + 0.55 * level)
        else:
            for start, end, label in gt:
                if label == name:
                    bottom.broken_barh([(start, end - start)], (y + 0.15, 0.7), facecolor="none",
                                       edgecolor=COLORS[name], hatch="//", lw=1.2)
    bottom.set_yticks([len(lanes) - 1 - r + 0.5 for r in range(len(lanes))])
    bottom.set_yticklabels([f"{kind} {name}" + (" (height = score)" if kind == "detected" else "")
                            for kind, name in lanes], fontsize=8)
    bottom.set_ylim(0, len(lanes))
    bottom.set_xlim(0, duration)
    bottom.set_xlabel("time (s)")
    bottom.grid(axis="x", alpha=0.3)
    fig.tight_layout()

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)

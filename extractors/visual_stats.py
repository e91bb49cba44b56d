"""``visual_stats``: hand-made per-frame picture statistics pooled per snippet (no weights).

What it measures, per frame (on frames resized to a 128-pixel short side), then mean and std
over the snippet's 16 frames: colour (RGB means/stds, opponent-colour chroma, colourfulness),
brightness (luma mean, contrast, dark/bright fractions, 8-bin luma histogram), saturation,
edges and texture (gradient magnitude, edge density, Laplacian energy), motion (mean absolute
luma difference to the previous frame, fraction of changed pixels, histogram change, which
peaks at cuts), a YCbCr skin-tone ratio (a crude face/person cue) and centre-vs-border
brightness. What it misses: anything semantic (who, what, facial expression).
"""
from __future__ import annotations

import numpy as np

from tsl300.io import VideoRequest

from .base import FrameExtractor
from .registry import register_extractor
from .spec import ExtractorSpec

SHORT_SIDE = 128
HIST_BINS = 8
FRAME_COLUMNS = (
    ["r_mean", "g_mean", "b_mean", "r_std", "g_std", "b_std",
     "luma_mean", "luma_std", "sat_mean", "sat_std", "colourfulness", "chroma_a", "chroma_b",
     "dark_frac", "bright_frac"]
    + [f"luma_hist_{i}" for i in range(HIST_BINS)]
    + ["grad_mean", "edge_density", "laplacian_energy",
       "motion_mean", "motion_frac", "hist_change", "skin_ratio", "centre_minus_border"]
)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _histograms(luma: np.ndarray) -> np.ndarray:
    """(n, 8) normalised luma histograms, vectorised over frames."""
    n = luma.shape[0]
    bins = np.minimum((luma.reshape(n, -1) * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    flat = bins + (np.arange(n)[:, None] * HIST_BINS)
    counts = np.bincount(flat.ravel(), minlength=n * HIST_BINS).reshape(n, HIST_BINS).astype(np.float32)
    return counts / bins.shape[1]


def frame_statistics(frames: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """(n, 31) statistics of uint8 (n, H, W, 3) frames; motion uses ``previous`` for frame 0."""
    n, h, w = frames.shape[:3]
    planes = np.ascontiguousarray(np.moveaxis(frames, -1, 0), dtype=np.float32) * (1.0 / 255.0)
    r, g, b = (p.reshape(n, -1) for p in planes)               # contiguous (n, H*W) planes
    luma = (0.299 * planes[0] + 0.587 * planes[1] + 0.114 * planes[2])
    vmax, vmin = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    sat = (vmax - vmin) / np.maximum(vmax, 1e-6)
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = np.sqrt(rg.var(1) + yb.var(1)) + 0.3 * np.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    chroma_a, chroma_b = (r - 0.5 * (g + b)).mean(1), (np.sqrt(3) / 2 * (g - b)).mean(1)
    lflat = luma.reshape(n, -1)
    hist = _histograms(luma)

    gx, gy = np.diff(luma, axis=2)[:, :-1, :], np.diff(luma, axis=1)[:, :, :-1]
    grad = np.sqrt(gx * gx + gy * gy).reshape(n, -1)
    lap = (4 * luma[:, 1:-1, 1:-1] - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1]
           - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:]).reshape(n, -1)

    before = np.concatenate([_luma(previous.astype(np.float32)[None] / 255.0) if previous is not None
                             else luma[:1], luma[:-1]]).astype(np.float32)
    diff = np.abs(luma - before).reshape(n, -1)
    hist_before = np.concatenate([_histograms(before[:1]), hist[:-1]])

    # YCbCr skin rule (Chai & Ngan): 77 <= Cb <= 127, 133 <= Cr <= 173 on 0..255 values.
    cb = 128 + (-0.168736 * r - 0.331264 * g + 0.5 * b) * 255
    cr = 128 + (0.5 * r - 0.418688 * g - 0.081312 * b) * 255
    skin = ((cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)).mean(1)

    centre = luma[:, h // 4: h - h // 4, w // 4: w - w // 4].reshape(n, -1).mean(1)
    border = (lflat.sum(1) - centre * (h - 2 * (h // 4)) * (w - 2 * (w // 4))) / max(1, h * w - (h - 2 * (h // 4)) * (w - 2 * (w // 4)))

    columns = [
        r.mean(1), g.mean(1), b.mean(1), r.std(1), g.std(1), b.std(1),
        lflat.mean(1), lflat.std(1), sat.mean(1), sat.std(1), colourful, chroma_a, chroma_b,
        (lflat < 0.1).mean(1), (lflat > 0.9).mean(1),
        *hist.T,
        grad.mean(1), (grad > 0.1).mean(1), np.abs(lap).mean(1),
        diff.mean(1), (diff > 0.1).mean(1), 0.5 * np.abs(hist - hist_before).sum(1), skin,
        centre - border,
    ]
    return np.stack(columns, axis=1).astype(np.float32)


@register_extractor("visual_stats")
class VisualStats(FrameExtractor):
    """Colour, brightness, saturation, texture and motion statistics per snippet (mean, std)."""

    version = "1"
    modality = "visual_stats"
    reducers = ("mean", "std")

    def __init__(self, short_side: int = SHORT_SIDE):
        self.short_side = int(short_side)

    @property
    def frame_dim(self) -> int:
        return len(FRAME_COLUMNS)

    def video_request(self) -> VideoRequest:
        return VideoRequest(short_side=self.short_side)

    def frame_features(self, frames, previous):
        return frame_statistics(frames, previous)

    def spec(self) -> ExtractorSpec:
        columns = tuple(f"{c}_{r}" for r in self.reducers for c in FRAME_COLUMNS)
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(len(columns),), frame_size=f"short_side={self.short_side}", columns=columns,
            params={"short_side": self.short_side, "pooling": list(self.reducers)},
        )

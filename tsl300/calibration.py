"""Segment scores that read as probabilities (Platt scaling fitted on validation speakers).

A raw segment score ranks segments but is no probability (outer-inner contrast plus a share of
the video score; it can exceed 1). Platt scaling maps it through ``sigmoid(a * score + b)``
fitted on the segments a model proposes for *validation* speakers, each labelled 1 when it
overlaps a true segment of its class by at least :data:`MATCH_TIOU` (each true segment matched
at most once, best score first, as the ActivityNet evaluator does) and 0 otherwise. A
calibrated score of 0.7 then means: about 70% of segments scored like this were real. The map
is monotone, so rankings and average mAP do not change.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_TIOU = 0.3
"""A proposal is a true detection when its tIoU with an unmatched true segment of its class is
at least this (the strictest threshold of the TSL-300 protocol, tIoU 0.1:0.05:0.3)."""


MIN_SLOPE = 1e-3


@dataclass(frozen=True)
class Platt:
    """``p = sigmoid(a * score + b)``."""

    a: float
    b: float

    def __call__(self, scores):
        z = self.a * np.asarray(scores, np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def to_dict(self) -> dict:
        return {"kind": "platt", "a": self.a, "b": self.b, "match_tiou": MATCH_TIOU}

    @classmethod
    def from_dict(cls, d: dict) -> Platt:
        return cls(float(d["a"]), float(d["b"]))


def tiou(seg: tuple[float, float], others: np.ndarray) -> np.ndarray:
    """Temporal IoU of one (start, end) with each row of ``others`` (K, 2)."""
    if not len(others):
        return np.zeros(0)
    inter = np.clip(np.minimum(seg[1], others[:, 1]) - np.maximum(seg[0], others[:, 0]), 0, None)
    union = (seg[1] - seg[0]) + (others[:, 1] - others[:, 0]) - inter
    return inter / np.maximum(union, 1e-9)


def match_labels(proposals, truth, threshold: float = MATCH_TIOU) -> np.ndarray:
    """1/0 per proposal (``start``, ``end``, ``label``, ``score``) of ONE video: a true detection
    of an unmatched ground-truth segment of its class, best-scoring proposals first."""
    out = np.zeros(len(proposals))
    order = np.argsort([-p.score for p in proposals], kind="stable")
    used: set[int] = set()
    for i in order:
        p = proposals[i]
        idx = [k for k, g in enumerate(truth) if g.label == p.label and k not in used]
        if not idx:
            continue
        overlaps = tiou((p.start, p.end), np.array([[truth[k].start, truth[k].end] for k in idx]))
        best = int(np.argmax(overlaps))
        if overlaps[best] >= threshold:
            used.add(idx[best])
            out[i] = 1.0
    return out


def fit_platt(scores, labels, iterations: int = 100, l2: float = 1e-3) -> Platt:
    """Logistic regression of ``labels`` (0/1) on ``scores`` by Newton steps, with Platt's
    smoothed targets ((n+ + 1)/(n+ + 2), 1/(n- + 2)) so that few samples do not give 0 or 1.
    A slope at or below :data:`MIN_SLOPE` (scores that do not separate) is set to it, so the
    map stays increasing, and the offset alone is fitted (scores then read as the base rate)."""
    x = np.asarray(scores, np.float64)
    y = np.asarray(labels, np.float64)
    pos, neg = y.sum(), len(y) - y.sum()
    t = np.where(y > 0.5, (pos + 1) / (pos + 2), 1 / (neg + 2))
    w = np.zeros(2)
    X = np.column_stack([x, np.ones_like(x)])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(X @ w, -50, 50)))
        grad = X.T @ (p - t) + l2 * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    if w[0] <= MIN_SLOPE:  # never invert or flatten the ranking: keep a small positive slope
        a = MIN_SLOPE
        b = 0.0
        for _ in range(iterations):
            p = 1 / (1 + np.exp(-np.clip(a * x + b, -50, 50)))
            step = np.sum(p - t) / max(np.sum(p * (1 - p)), 1e-12)
            b -= step
            if abs(step) < 1e-9:
                break
        return Platt(a, float(b))
    return Platt(float(w[0]), float(w[1]))


def best_threshold(probabilities, labels, n_truth: int, beta: float = 1.0) -> float:
    """The calibrated score threshold with the best F-beta of detections (recall over
    ``n_truth`` true segments), from the candidate values themselves."""
    p = np.asarray(probabilities, np.float64)
    y = np.asarray(labels, np.float64)
    best, best_f = 0.5, -1.0
    for t in np.unique(p):
        keep = p >= t
        tp = y[keep].sum()
        precision = tp / max(keep.sum(), 1)
        recall = tp / max(n_truth, 1)
        f = (1 + beta ** 2) * precision * recall / max(beta ** 2 * precision + recall, 1e-12)
        if f > best_f:
            best, best_f = float(t), f
    return best

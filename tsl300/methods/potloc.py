"""POTLoc (Vahdani & Tian, CVIU 2024) stage-1 pieces: base model loss, pseudo labels, training crop.

Official code: ``elahevahd/POTLoc`` @47b8bc5 (``base_core.py``, ``PL_generation.py``,
``main_core.py``). POTLoc trains a base model (LACP without the sequence search), turns its
proposals and the points into pseudo-label segments, then trains a transformer on a temporal
pyramid with them. This module holds the parts before the main model; they reproduce
``../shared/golden/potloc`` (base losses, base inference, pseudo labels, training crop). The main
model and the recipe are not written yet (``recipes/`` has no POTLoc recipe).

Official behaviours kept: the base background loss averages over the seeds (NaN without one,
here 0); points inside a proposal are taken in annotation order (unsorted points give inverted
pieces); the false-negative "clip to the best containing proposal" branch never runs, so a missed
point always gets ``[max(0, p - d/2), p + d/2]`` with score 0; a point whose candidates all
score <= -1 gets no pseudo label; the crop keeps points on the unrounded grid and rounds half to
even.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

BASE_POSTPROCESS = dict(class_thresh=0.65, scale=8, oic_lambda=0.2, oic_gamma=0.25, nms="hard", nms_iou=0.6,
                        nms_plus_one=True, cas_thresholds=tuple(np.arange(0, 0.2, 0.025).tolist()),
                        actionness_thresholds=tuple(np.arange(0.3, 1, 0.025).tolist()),
                        oic_on_thresholded_cas=True, skip_lone_first_position=True)
"""``config.BaseConfig`` inference constants (the shared post-processing reproduces ``test()``)."""

BASE_LAMBDAS = (1.0, 0.5, 1.0, 0.0, 0.0)
"""LACP's loss terms ``[vid, frame, frame_bkg, score, feat]``: the base model has no search."""


@dataclass
class PseudoLabel:
    label: str
    point: float
    score: float
    segment: tuple[float, float]


def split_proposals(proposals: list[dict], points: list[tuple[str, float]]) -> list[dict]:
    """Step 1 of ``train_filter_proposals``: each proposal with its label's points inside
    ``[s, e]`` (inclusive, annotation order): 1 point -> kept; k >= 2 -> k pieces bounded by the
    midpoints; none -> dropped."""
    out = []
    for prop in proposals:
        s, e = prop["segment"]
        inside = [p for label, p in points if label == prop["label"] and s <= p <= e]
        if len(inside) == 1:
            out.append({"label": prop["label"], "point": inside[0], "score": prop["score"], "segment": list(prop["segment"])})
        elif len(inside) > 1:
            for i, p in enumerate(inside):
                lo = s if i == 0 else (p + inside[i - 1]) / 2
                hi = e if i == len(inside) - 1 else (p + inside[i + 1]) / 2
                out.append({"label": prop["label"], "point": p, "score": prop["score"], "segment": [lo, hi]})
    return out


def pseudo_labels(base_proposals: dict[str, list[dict]], point_dict: dict[str, list[tuple[str, float]]]
                  ) -> tuple[dict[str, list[PseudoLabel]], dict]:
    """``PL_generation.train_filter_proposals``: pseudo-label segments (seconds) per video in
    point order, and the intermediates (``proposals_dict``, ``stat_dict``,
    ``false_negative_dict``, ``new_proposals``). KeyError for a missed point of a class that no
    kept proposal has (official)."""
    vids = [v for v in point_dict if v in base_proposals]
    pieces = {v: split_proposals(base_proposals[v], point_dict[v]) for v in vids}
    lengths: dict[str, list[float]] = {}
    for v in vids:
        for prop in pieces[v]:
            lengths.setdefault(prop["label"], []).append(prop["segment"][1] - prop["segment"][0])
    stat = {label: float(np.mean(d)) for label, d in lengths.items()}
    missed: dict[str, list] = {}
    new: dict[str, list[dict]] = {}
    for v in vids:
        for label, p in point_dict[v]:
            if any(prop["label"] == label and prop["segment"][0] <= p <= prop["segment"][1] for prop in pieces[v]):
                continue
            d = stat[label]
            missed.setdefault(v, []).append([label, p])
            new.setdefault(v, []).append({"label": label, "score": 0, "segment": [max(0, p - d / 2), p + d / 2]})
    out: dict[str, list[PseudoLabel]] = {}
    for v in vids:
        cands = pieces[v] + new.get(v, [])
        labels = []
        for label, p in point_dict[v]:
            best, best_score = None, -1
            for prop in cands:
                if prop["label"] == label and prop["segment"][0] <= p <= prop["segment"][1] and prop["score"] > best_score:
                    best, best_score = prop, prop["score"]
            if best is not None:
                labels.append(PseudoLabel(label, p, best["score"], tuple(best["segment"])))
        out[v] = labels
    return out, {"proposals_dict": pieces, "stat_dict": stat, "false_negative_dict": missed, "new_proposals": new}


@dataclass
class Crop:
    crop_len: int
    st: int
    ed: int
    trials: int
    points: np.ndarray      # kept points, crop snippets (rounded half to even)
    labels: np.ndarray
    proposals: np.ndarray   # (K, 2) crop snippets, clamped to [0, crop_len - 1]


def truncate_feats(feat_len: int, max_seq_len: int, points_sec, proposals_sec, labels, rng: random.Random,
                   crop_ratio=(0.9, 1.0), max_trials: int = 500, cutoff: float = 0.7, sps: float = 25 / 16,
                   calls: list | None = None) -> Crop:
    """``main_core.truncate_feats``: a random window (a ``crop_ratio`` share of a short video,
    ``max_seq_len`` of a long one) keeping more than ``cutoff`` of the points (at most
    ``max_trials`` draws; the last otherwise). Python ``random`` (``rng``) as official."""
    def randint(a: int, b: int) -> int:
        r = rng.randint(a, b)
        if calls is not None:
            calls.append([a, b, r])
        return r

    T = feat_len
    if T <= max_seq_len:
        length = randint(max(round(crop_ratio[0] * T), 1), min(round(crop_ratio[1] * T), T))
    else:
        length = max_seq_len
    grid_pts = np.asarray(points_sec, np.float32).astype(np.float64) * sps
    n = len(grid_pts)
    trials = 0
    while True:
        trials += 1
        st = randint(0, T - length)
        ed = st + length
        keep = (grid_pts >= st) & (grid_pts <= ed - 1)
        if keep.sum() > cutoff * n or trials >= max_trials:
            break
    props = np.asarray(proposals_sec, np.float64).reshape(-1, 2)[keep]
    clamp = lambda x: min(max(x, 0), length - 1)  # noqa: E731
    return Crop(length, st, ed, trials,
                np.asarray([float(round(g - st)) for g in grid_pts[keep]]),
                np.asarray(labels)[keep],
                np.asarray([[clamp(round(s * sps - st)), clamp(round(e * sps - st))] for s, e in props],
                           np.float64).reshape(-1, 2))

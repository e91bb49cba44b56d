"""Shared inference post-processing: per-snippet scores -> scored segments in seconds.

The official TSL-Net pipeline (``test_all.test``), which LACP and SF-Net share with other
constants, per video:

1. classes whose video score is >= ``class_thresh`` (else the arg-max);
2. class scores and the class-agnostic score upsampled ``scale`` x by linear interpolation
   (extrapolated past the last snippet, as ``scipy.interpolate.interp1d``);
3. proposals = runs of consecutive positions above each of several thresholds on the class
   score, and on the agnostic score (shared by all classes);
4. outer-inner contrast score: mean inside - mean over margins of ``lambda`` x length on each
   side + ``gamma`` x video score;
5. per-class NMS (hard, with the official "+1" on lengths in seconds, or Gaussian soft-NMS);
6. seconds through :mod:`tsl300.timegrid`.

Everything is parametrised by :class:`PostprocessParams`; its defaults are TSL-Net's.
Runs and scores are vectorised over thresholds and positions; NMS loops over kept proposals.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from tsl300.classes import CLASS_CODES
from tsl300.data.io import atomic_write_text
from tsl300.data.types import Segment
from tsl300.errors import RecipeError
from tsl300.timegrid import SNIPPET_FRAMES, upsampled_end, upsampled_start


def threshold_tuple(values) -> tuple[float, ...]:
    """A numpy threshold grid (``np.arange``/``np.linspace``) as a tuple of Python floats, for a
    dataclass ``default_factory``."""
    return tuple(float(v) for v in values)


def _official_cas_thresholds() -> tuple[float, ...]:
    return threshold_tuple(np.arange(0, 0.25, 0.025))


def _official_agnostic_thresholds() -> tuple[float, ...]:
    return threshold_tuple(np.arange(0.4, 0.75, 0.025))


@dataclass
class PostprocessParams:
    """Inference constants. Defaults: the official TSL-Net ones (LACP: lambda 0.25, gamma 0.2)."""

    class_thresh: float = 0.5
    scale: int = 24
    cas_thresholds: tuple[float, ...] = field(default_factory=_official_cas_thresholds)
    actionness_thresholds: tuple[float, ...] = field(default_factory=_official_agnostic_thresholds)
    oic_lambda: float = 0.03
    oic_gamma: float = 0.3
    oic_on_thresholded_cas: bool = True   # official: class-score proposals are scored on the
                                          # thresholded copy (values below the threshold = 0)
    nms: str = "hard"                     # 'hard' | 'soft' | 'basnet' | 'none'
    nms_iou: float = 0.5
    nms_plus_one: bool = True             # official: length = end - start + 1 (in seconds)
    soft_nms_sigma: float = 0.5
    soft_nms_min_score: float = 0.0
    basnet_alpha: float = 0.35            # nms 'basnet' (CASE): suppressed x exp(-iou^2 / alpha)
    max_proposals: int | None = None      # per video after NMS (None: all)
    skip_lone_first_position: bool = True  # official quirk: a threshold whose only position
                                           # is index 0 gives no proposal (``positions.any()``)
    class_names: tuple[str, ...] = CLASS_CODES
    snippet_frames: int = SNIPPET_FRAMES

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | None) -> "PostprocessParams":
        config = dict(config or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise RecipeError(f"postprocess: unknown key(s) {unknown}; known: {sorted(names)}")
        for key in ("cas_thresholds", "actionness_thresholds", "class_names"):
            if key in config:
                config[key] = tuple(config[key])
        params = cls(**config)
        if params.nms not in ("hard", "soft", "basnet", "none"):
            raise RecipeError(f"postprocess: nms must be 'hard', 'soft', 'basnet' or 'none', got {params.nms!r}")
        return params


# -- steps -----------------------------------------------------------------------------------

def select_classes(video_scores: np.ndarray, thresh: float) -> np.ndarray:
    """Indices of classes with score >= thresh; the arg-max when there are none."""
    chosen = np.flatnonzero(video_scores >= thresh)
    return chosen if len(chosen) else np.array([int(np.argmax(video_scores))])


def upsample_linear(x: np.ndarray, scale: int) -> np.ndarray:
    """(T, ...) -> (len(arange(0, T, 1/scale)), ...) linear interpolation, extrapolating
    linearly past the last snippet. Same arithmetic as ``interp1d(kind='linear',
    fill_value='extrapolate')``: differences in the input dtype, the rest in float64."""
    T = x.shape[0]
    positions = np.arange(0, T, 1 / scale)
    if T == 1:
        return np.repeat(x.astype(np.float64), len(positions), axis=0)
    hi = np.clip(np.searchsorted(np.arange(T), positions, side="left"), 1, T - 1)
    lo = hi - 1
    slope = (x[hi] - x[lo]).astype(np.float64)  # x_hi - x_lo = 1
    offset = (positions - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return slope * offset + x[lo]


def threshold_runs(track: np.ndarray, thresholds: np.ndarray,
                   skip_lone_first_position: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of consecutive positions with ``track >= thr`` and ``track > 0`` for each threshold.

    Returns ``(row, start, end)`` arrays (end inclusive), ordered by threshold then position.
    """
    track = np.asarray(track)
    keep = (track[None, :] >= np.asarray(thresholds)[:, None]) & (track[None, :] > 0)
    if skip_lone_first_position:
        lone = keep[:, 0] & (keep.sum(axis=1) == 1)
        keep[lone] = False
    edges = np.diff(np.pad(keep.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends - 1


def outer_inner_contrast(tracks: np.ndarray, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                         lam: float) -> np.ndarray:
    """Mean of ``tracks[row]`` inside [start, end] minus its mean over the outer margins
    [start - int(lam*L), start) and (end, end + int(lam*L)] (clipped; empty -> 0)."""
    n = tracks.shape[1]
    csum = np.concatenate([np.zeros((tracks.shape[0], 1)), np.cumsum(tracks, axis=1)], axis=1)
    length = ends - starts + 1
    inner = (csum[rows, ends + 1] - csum[rows, starts]) / length
    outer_s = np.maximum(0, np.floor(starts - lam * length)).astype(np.int64)
    outer_e = np.minimum(n - 1, np.floor(ends + lam * length)).astype(np.int64)
    left_n = starts - outer_s
    right_n = np.maximum(outer_e - ends, 0)
    total = (csum[rows, starts] - csum[rows, outer_s]) + np.where(
        right_n > 0, csum[rows, np.maximum(outer_e, ends) + 1] - csum[rows, ends + 1], 0.0)
    count = left_n + right_n
    outer = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return inner - outer


def _iou(seg: np.ndarray, others: np.ndarray, plus_one: bool) -> np.ndarray:
    one = 1.0 if plus_one else 0.0
    inter = np.maximum(0.0, np.minimum(seg[1], others[:, 1]) - np.maximum(seg[0], others[:, 0]) + one)
    union = (seg[1] - seg[0] + one) + (others[:, 1] - others[:, 0] + one) - inter
    return inter / union


def hard_nms(segments: np.ndarray, scores: np.ndarray, iou_thresh: float,
             plus_one: bool = True) -> np.ndarray:
    """Greedy NMS; indices kept, best first. Suppresses IoU >= iou_thresh (official)."""
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        iou = _iou(segments[i], segments[order[1:]], plus_one)
        order = order[1:][iou < iou_thresh]
    return np.asarray(keep, dtype=np.int64)


def soft_nms(segments: np.ndarray, scores: np.ndarray, sigma: float = 0.5, min_score: float = 0.0,
             plus_one: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian soft-NMS: take the best, decay the rest by ``exp(-iou^2 / sigma)``, repeat.
    Returns (indices, decayed scores), best first; drops scores <= ``min_score``."""
    scores = scores.astype(np.float64).copy()
    remaining = np.arange(len(scores))
    keep, kept_scores = [], []
    while remaining.size:
        j = int(np.argmax(scores[remaining]))
        i = remaining[j]
        keep.append(i)
        kept_scores.append(scores[i])
        remaining = np.delete(remaining, j)
        if not remaining.size:
            break
        iou = _iou(segments[i], segments[remaining], plus_one)
        scores[remaining] *= np.exp(-(iou ** 2) / sigma)
        remaining = remaining[scores[remaining] > min_score]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept_scores)


def basnet_soft_nms(segments: np.ndarray, scores: np.ndarray, iou_thresh: float, alpha: float = 0.35,
                    plus_one: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """BaS-Net's soft mode (CASE): greedy hard NMS, but each proposal a kept one suppresses
    (IoU >= iou_thresh) is kept too, its score multiplied once by ``exp(-iou^2 / alpha)``.
    Returns (indices, scores): the kept ones best first, then the decayed ones in suppression
    order (not re-sorted; nothing is dropped)."""
    order = scores.argsort()[::-1]
    keep, decayed, decayed_scores = [], [], []
    while order.size:
        i = order[0]
        keep.append(i)
        iou = _iou(segments[i], segments[order[1:]], plus_one)
        hit = iou >= iou_thresh
        decayed.extend(order[1:][hit])
        decayed_scores.extend(scores[order[1:][hit]] * np.exp(-np.square(iou[hit]) / alpha))
        order = order[1:][~hit]
    index = np.asarray(keep + decayed, dtype=np.int64)
    return index, np.concatenate([scores[keep], np.asarray(decayed_scores, dtype=np.float64)])


# -- one video ---------------------------------------------------------------------------------

def video_proposals(cas: np.ndarray, video_scores: np.ndarray, fps: float,
                    params: PostprocessParams, actionness: np.ndarray | None = None) -> list[Segment]:
    """Scored segments (seconds) for one video.

    Args:
        cas: (T, C) class scores in [0, 1] (real snippets only).
        video_scores: (C,) video-level class scores.
        actionness: (T,) class-agnostic foreground score, or None (no agnostic proposals).
    """
    if cas.shape[0] == 0:
        return []
    classes = select_classes(video_scores, params.class_thresh)
    up_cas = upsample_linear(cas[:, classes], params.scale)  # (N, K)
    up_act = None if actionness is None else upsample_linear(actionness[:, None], params.scale)[:, 0]
    cas_thr = np.asarray(params.cas_thresholds, dtype=np.float64)
    act_thr = np.asarray(params.actionness_thresholds, dtype=np.float64)
    out: list[Segment] = []
    for j, c in enumerate(classes):  # loop over predicted classes (1-2)
        x = up_cas[:, j]
        segs, scores = [], []
        rows, s, e = threshold_runs(x, cas_thr, params.skip_lone_first_position)
        if len(rows):
            tracks = np.where(x[None, :] < cas_thr[:, None], 0.0, x[None, :]) \
                if params.oic_on_thresholded_cas else x[None, :]
            track_rows = rows if params.oic_on_thresholded_cas else np.zeros_like(rows)
            scores.append(outer_inner_contrast(tracks, track_rows, s, e, params.oic_lambda))
            segs.append(np.stack([s, e], axis=1))
        if up_act is not None and len(act_thr):
            rows, s, e = threshold_runs(up_act, act_thr, params.skip_lone_first_position)
            if len(rows):
                scores.append(outer_inner_contrast(x[None, :], np.zeros_like(rows), s, e, params.oic_lambda))
                segs.append(np.stack([s, e], axis=1))
        if not segs:
            continue
        idx = np.concatenate(segs)
        score = np.concatenate(scores) + params.oic_gamma * video_scores[c]
        times = np.stack([upsampled_start(idx[:, 0], fps, params.scale, params.snippet_frames),
                          upsampled_end(idx[:, 1], fps, params.scale, params.snippet_frames)], axis=1)
        if params.nms == "hard":
            keep = hard_nms(times, score, params.nms_iou, params.nms_plus_one)
            kept_scores = score[keep]
        elif params.nms == "basnet":
            keep, kept_scores = basnet_soft_nms(times, score, params.nms_iou, params.basnet_alpha,
                                                params.nms_plus_one)
        elif params.nms == "soft":
            keep, kept_scores = soft_nms(times, score, params.soft_nms_sigma,
                                         params.soft_nms_min_score, params.nms_plus_one)
        else:
            keep = np.argsort(-score, kind="stable")
            kept_scores = score[keep]
        label = params.class_names[int(c)]
        out.extend(Segment(start=float(times[k, 0]), end=float(times[k, 1]), label=label,
                           score=float(sc)) for k, sc in zip(keep, kept_scores))
    if params.max_proposals is not None:
        out = sorted(out, key=lambda seg: -seg.score)[: params.max_proposals]
    return out


# -- a batch -----------------------------------------------------------------------------------

def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def predict_segments(scores: Mapping[str, Any], batch: Mapping[str, Any],
                     params: PostprocessParams | None = None) -> dict[str, list[Segment]]:
    """Segments per video for a batch, from scores following the Method contract.

    ``scores``: ``cas`` (B, T, C), ``video_scores`` (B, C), optional ``actionness`` (B, T).
    ``batch``: ``vids``, ``fps`` and ``mask`` (B, T) or ``lengths`` (B,).
    """
    params = params or PostprocessParams()
    cas = _numpy(scores["cas"])
    vscores = _numpy(scores["video_scores"])
    act = scores.get("actionness")
    act = None if act is None else _numpy(act)
    if "lengths" in batch:
        lengths = _numpy(batch["lengths"]).astype(np.int64)
    else:
        lengths = _numpy(batch["mask"]).sum(axis=1).astype(np.int64)
    result: dict[str, list[Segment]] = {}
    for b, vid in enumerate(batch["vids"]):
        L = int(lengths[b])
        result[vid] = video_proposals(cas[b, :L], vscores[b], float(batch["fps"][b]), params,
                                      None if act is None else act[b, :L])
    return result


# -- ActivityNet results JSON --------------------------------------------------------------------

def results_dict(predictions: Mapping[str, list[Segment]], version: str = "VERSION 1.3",
                 external_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ActivityNet results structure that ``tsl300 eval`` reads."""
    return {"version": version,
            "results": {vid: [{"label": s.label, "score": float(s.score),
                               "segment": [float(s.start), float(s.end)]} for s in segs]
                        for vid, segs in predictions.items()},
            "external_data": dict(external_data or {})}


def write_results_json(predictions: Mapping[str, list[Segment]], path: str | os.PathLike,
                       **kwargs) -> Path:
    """Write predictions atomically (temp file + rename) as ActivityNet results JSON."""
    path = Path(path)
    atomic_write_text(path, json.dumps(results_dict(predictions, **kwargs)))
    return path

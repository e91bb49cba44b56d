"""Temporal detection metrics as the official TSL-300 evaluator (a modified ActivityNet one).

Per class and tIoU threshold: predictions ranked by descending score are matched greedily to
ground truth of the same video and class; each prediction takes the unmatched ground-truth
segment with the highest tIoU >= threshold (equal tIoUs: the segment later in the file, as the
official reversed ``argsort``), each ground-truth segment is matched at most once, and everything
else (including predictions for videos without ground truth) is a false positive. From the
cumulative precision/recall curves: all-point interpolated AP, and the TSL-300 "Precision" /
"Recall" = the mean of each curve over the ranked list, averaged over classes;
F2 = 5PR / (4P + R).

Matching is vectorised: the only Python loop runs over the rank of a prediction *within its
(class, video) group*; each step handles that rank in every group and every threshold at once
with array operations (matching in one video never affects another).
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .io import (
    GroundTruth,
    Predictions,
    ground_truth_from_segments,
    load_json,
    parse_ground_truth,
    parse_predictions,
    predictions_from_segments,
)

TSL300_TIOUS = [0.1, 0.15, 0.2, 0.25, 0.3]
"""tIoU thresholds of the TSL-300 paper (the official ``np.linspace(0.1, 0.3, 5)``)."""


def pairwise_tiou(p_start, p_end, g_start, g_end) -> np.ndarray:
    """tIoU of segments, broadcasting predictions against ground truth (the official formula
    and operation order, so threshold comparisons agree bit for bit). Two zero-length
    segments have tIoU 1 when they coincide and 0 otherwise (the official code gives NaN,
    which it then treats as a match)."""
    # In place: fewer large temporaries (each one costs page faults on big inputs).
    inter = np.minimum(p_end, g_end)
    inter -= np.maximum(p_start, g_start)
    np.maximum(inter, 0.0, out=inter)
    union = np.subtract(g_end, g_start)
    union += np.subtract(p_end, p_start)  # (g_len + p_len) - inter, the official order
    union -= inter
    with np.errstate(divide="ignore", invalid="ignore"):
        tiou = np.divide(inter, union, out=inter)
    degenerate = union == 0
    if np.any(degenerate):
        same = np.broadcast_to(p_start == g_start, tiou.shape)
        tiou = np.where(degenerate, same.astype(np.float64), tiou)
    return tiou


def rank_within_class(pred: Predictions) -> np.ndarray:
    """Prediction indices ordered by class, then descending score. Equal scores: the later
    prediction in the file first, as the official ``argsort()[::-1]`` with a stable sort."""
    n = len(pred.score)
    return np.lexsort((-np.arange(n), -pred.score, pred.label))


def _runs(counts: np.ndarray) -> np.ndarray:
    """Position of each element inside its run, for consecutive runs of the given lengths."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def match_greedy(
    gt: GroundTruth, pred: Predictions, thresholds: np.ndarray, ranked: np.ndarray
) -> np.ndarray:
    """True-positive flags, shape (T, N) in prediction order, for every threshold.

    The tIoU is computed for every (prediction, segment) pair of the same class and video.
    Only pairs with tIoU >= the smallest threshold can ever match. A prediction none of whose
    candidate segments is a candidate of another prediction is decided at once (it matches iff
    its best tIoU reaches the threshold); the others go through :func:`_resolve_contested`.
    """
    thr = np.asarray(thresholds, dtype=np.float64)
    n_thr, n_pred, n_gt = len(thr), len(pred.score), len(gt.label)
    tp = np.zeros((n_thr, n_pred), dtype=bool)

    # Ground truth sorted by (class, video) group; file order is kept inside a group.
    n_videos = max(len(gt.video_index), 1)
    gt_key = gt.label * n_videos + gt.video
    by_group = np.argsort(gt_key, kind="stable")
    keys, first, counts = np.unique(gt_key[by_group], return_index=True, return_counts=True)

    # Predictions with ground truth of their class in their video, and all their pairs.
    pred_key = pred.label * n_videos + pred.video
    slot = np.minimum(np.searchsorted(keys, pred_key), len(keys) - 1)
    rows = np.flatnonzero((pred.video >= 0) & (keys[slot] == pred_key))
    group = slot[rows]
    pair_row = np.repeat(np.arange(len(rows)), counts[group])
    pair_gt = by_group[np.repeat(first[group], counts[group]) + _runs(counts[group])]
    tiou = pairwise_tiou(
        pred.start[rows[pair_row]], pred.end[rows[pair_row]], gt.start[pair_gt], gt.end[pair_gt]
    )
    keep = tiou >= thr.min()
    r, seg, tiou = pair_row[keep], pair_gt[keep], tiou[keep]
    if len(r) == 0:
        return tp

    # Uncontested predictions: the best tIoU decides.
    shared = np.bincount(seg, minlength=n_gt) > 1
    contested = np.bincount(r, weights=shared[seg], minlength=len(rows)) > 0
    alone = ~contested[r]
    best = np.zeros(len(rows))
    np.maximum.at(best, r[alone], tiou[alone])
    solo = np.flatnonzero(~contested & (np.bincount(r, minlength=len(rows)) > 0))
    tp[:, rows[solo]] = best[solo][None, :] >= thr[:, None]

    if contested.any():
        rank = np.empty(n_pred, dtype=np.int64)
        rank[ranked] = np.arange(n_pred)
        busy = np.flatnonzero(contested)
        renumber = np.cumsum(contested) - 1
        _resolve_contested(
            tp, rows[busy], rank[rows[busy]], renumber[r[~alone]], seg[~alone], tiou[~alone],
            thr, n_gt,
        )
    return tp


def _components(row: np.ndarray, seg: np.ndarray, n_rows: int, n_gt: int) -> np.ndarray:
    """Connected component label of each prediction, linking predictions that share a
    candidate segment (min-label propagation; a few rounds for realistic data)."""
    comp = np.arange(n_rows)
    while True:
        seg_min = np.full(n_gt, n_rows)
        np.minimum.at(seg_min, seg, comp[row])
        new = comp.copy()
        np.minimum.at(new, row, seg_min[seg])
        if np.array_equal(new, comp):
            return comp
        comp = new


def _resolve_contested(tp, pred_rows, rank, row, seg, tiou, thr, n_gt) -> None:
    """Greedy matching of predictions that compete for segments, for every threshold at once.

    ``row``/``seg``/``tiou`` list the candidate pairs (``row`` indexes ``pred_rows``).
    Predictions only interact inside a connected component (shared candidates), so step k
    handles the k-th best-scored prediction of every component together."""
    n_rows = len(pred_rows)
    comp = _components(row, seg, n_rows, n_gt)
    order = np.lexsort((rank, comp))
    position = np.empty(n_rows, dtype=np.int64)
    position[order] = np.arange(n_rows)
    pred_rows, comp = pred_rows[order], comp[order]
    k = _runs(np.diff(np.r_[np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]]), n_rows]))

    # Padded candidates per prediction by descending tIoU; equal tIoU -> the later segment
    # first (the official reversed argsort). Padding: segment id n_gt, never reachable.
    row = position[row]
    pair_order = np.lexsort((-seg, -tiou, row))
    row, seg, tiou = row[pair_order], seg[pair_order], tiou[pair_order]
    per_row = np.bincount(row, minlength=n_rows)
    col = _runs(per_row)
    width = int(per_row.max())
    cand_id = np.full((n_rows, width), n_gt)
    cand_id[row, col] = seg
    reaches = np.zeros((len(thr), n_rows, width), dtype=bool)
    reaches[:, row, col] = tiou[None, :] >= thr[:, None]

    locked = np.zeros((len(thr), n_gt + 1), dtype=bool)
    thr_rows = np.arange(len(thr))[:, None]
    by_k = np.argsort(k, kind="stable")
    bounds = np.searchsorted(k[by_k], np.arange(int(k.max()) + 2))
    for step in range(int(k.max()) + 1):
        sel = by_k[bounds[step] : bounds[step + 1]]
        ids = cand_id[sel]  # (m, W)
        ok = reaches[:, sel] & ~locked[:, ids]  # (T, m, W)
        pick = ok.argmax(axis=-1)  # the best allowed candidate, (T, m)
        hit = ok.any(axis=-1)
        chosen = np.where(hit, ids[np.arange(len(sel)), pick], n_gt)
        locked[thr_rows, chosen] = True  # misses lock the padding id, which no one can take
        tp[:, pred_rows[sel]] = hit


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """All-point interpolated AP (VOC 2011 / ActivityNet) of each row of (T, N) curves."""
    rows = precision.shape[0]
    zeros, ones = np.zeros((rows, 1)), np.ones((rows, 1))
    mprec = np.concatenate([zeros, precision, zeros], axis=1)
    mrec = np.concatenate([zeros, recall, ones], axis=1)
    mprec = np.maximum.accumulate(mprec[:, ::-1], axis=1)[:, ::-1]
    return np.sum(np.diff(mrec, axis=1) * mprec[:, 1:], axis=1)


def _check_thresholds(tiou_thresholds) -> np.ndarray:
    thr = np.asarray(TSL300_TIOUS if tiou_thresholds is None else tiou_thresholds, dtype=float)
    if thr.ndim != 1 or thr.size == 0 or not np.all((thr > 0) & (thr <= 1)):
        raise ValueError(f"tIoU thresholds must be a non-empty list in (0, 1], got {thr}")
    return thr


def evaluate_arrays(
    gt: GroundTruth, pred: Predictions, tiou_thresholds: Sequence[float] | None = None
) -> dict[str, Any]:
    """All figures for already-parsed ground truth and predictions (see module docstring)."""
    thr = _check_thresholds(tiou_thresholds)
    n_cls = len(gt.class_index)
    ranked = rank_within_class(pred)
    tp = match_greedy(gt, pred, thr, ranked)

    ap = np.zeros((len(thr), n_cls))
    prec_mean = np.zeros((len(thr), n_cls))
    rec_mean = np.zeros((len(thr), n_cls))
    class_of_ranked = pred.label[ranked]
    bounds = np.searchsorted(class_of_ranked, np.arange(n_cls + 1))
    n_pos = np.bincount(gt.label, minlength=n_cls)
    for c in range(n_cls):
        idx = ranked[bounds[c] : bounds[c + 1]]
        if len(idx) == 0:  # no predictions: AP, precision and recall are 0 (official crashes)
            continue
        tp_cum = np.cumsum(tp[:, idx], axis=1, dtype=np.float64)
        seen = np.arange(1, len(idx) + 1, dtype=np.float64)  # tp + fp after each prediction
        recall = tp_cum / n_pos[c]
        precision = tp_cum / seen
        ap[:, c] = interpolated_ap(precision, recall)
        prec_mean[:, c] = precision.mean(axis=1)
        rec_mean[:, c] = recall.mean(axis=1)

    mean_ap = ap.mean(axis=1)
    p, r = prec_mean.mean(axis=1), rec_mean.mean(axis=1)
    denom = 4 * p + r
    f2 = np.divide(5 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    return {
        "tiou_thresholds": thr.tolist(),
        "class_index": dict(gt.class_index),
        "mAP": mean_ap.tolist(),
        "average_mAP": float(mean_ap.mean()),
        "AP_per_class_per_tiou": ap.tolist(),
        "precision_curve_mean": p.tolist(),
        "recall_curve_mean": r.tolist(),
        "F2": f2.tolist(),
        # Extras (not in the golden files): the paper's "Recall" and "F2" columns and the
        # per-class AP averaged over thresholds, labelled by class_index order.
        "average_recall": float(r.mean()),
        "average_F2": float(f2.mean()),
        "average_AP_per_class": ap.mean(axis=0).tolist(),
        "num_ground_truth": n_pos.tolist(),
        "num_predictions": np.diff(bounds).tolist(),
    }


def evaluate_detection(
    gt: str | os.PathLike | Mapping,
    pred: str | os.PathLike | Mapping,
    tiou_thresholds: Sequence[float] | None = None,
    subset: str | None = "test",
    unknown_labels: str = "error",
) -> dict[str, Any]:
    """Evaluate a prediction file against a ground-truth file (paths or loaded dicts).

    Returns the fields of the golden ``expected.json`` (tiou_thresholds, class_index, mAP,
    average_mAP, AP_per_class_per_tiou, precision_curve_mean, recall_curve_mean, F2) plus
    average_recall, average_F2, average_AP_per_class, num_ground_truth, num_predictions.
    ``tiou_thresholds`` defaults to :data:`TSL300_TIOUS`; ``subset`` selects ground-truth
    videos (None: all). Raises :class:`~tsl300.errors.DataError` on malformed input.
    """
    gt_data, gt_name = load_json(gt, "ground truth")
    pred_data, pred_name = load_json(pred, "prediction")
    ground_truth = parse_ground_truth(gt_data, gt_name, subset)
    predictions = parse_predictions(pred_data, pred_name, ground_truth, unknown_labels)
    return evaluate_arrays(ground_truth, predictions, tiou_thresholds)


def evaluate_segments(
    ground_truth: Mapping[str, Sequence[Any]] | Iterable[Any],
    predictions: Mapping[str, Sequence[Any]],
    tiou_thresholds: Sequence[float] | None = None,
    unknown_labels: str = "error",
) -> dict[str, Any]:
    """Evaluate in-memory :class:`~tsl300.data.types.Segment` lists (what the trainer has).

    ``ground_truth`` is ``{vid: [Segment, ...]}`` or an iterable of
    :class:`~tsl300.data.types.Video` (their ``segments``); every video given is evaluated, so
    pass the test videos only. ``predictions`` is ``{vid: [Segment, ...]}`` with scores.
    Classes are indexed in order of first appearance, as for a gt.json.
    """
    gt = ground_truth_from_segments(ground_truth, "ground truth segments")
    pred = predictions_from_segments(predictions, "predicted segments", gt, unknown_labels)
    return evaluate_arrays(gt, pred, tiou_thresholds)

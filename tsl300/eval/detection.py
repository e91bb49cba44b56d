"""Temporal detection metrics as the official TSL-300 evaluator (a modified ActivityNet one).

Per class and tIoU threshold: predictions ranked by descending score are matched greedily to
ground truth of the same video and class; each prediction takes the unmatched ground-truth
segment with the highest tIoU >= threshold (equal tIoUs: the segment later in the file, as the
official reversed ``argsort``), each ground-truth segment is matched at most once, and everything
else (including predictions for videos without ground truth) is a false positive. From the
cumulative precision/recall curves: all-point interpolated AP, and the TSL-300 "Precision" /
"Recall" = the mean of each curve over the ranked list, averaged over classes;
F2 = 5PR / (4P + R).

The matching itself is vectorised in :mod:`tsl300.eval.matching`.
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
from .matching import match_greedy, rank_within_class

TSL300_TIOUS = [0.1, 0.15, 0.2, 0.25, 0.3]
"""tIoU thresholds of the TSL-300 paper (the official ``np.linspace(0.1, 0.3, 5)``)."""


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
        "num_ignored_predictions": int(pred.ignored),
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
    average_recall, average_F2, average_AP_per_class, num_ground_truth, num_predictions (per
    class) and num_ignored_predictions.
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
    unknown_labels: str = "ignore",
) -> dict[str, Any]:
    """Evaluate in-memory :class:`~tsl300.data.types.Segment` lists (what the trainer has).

    ``ground_truth`` is ``{vid: [Segment, ...]}`` or an iterable of
    :class:`~tsl300.data.types.Video` (their ``segments``); every video given is evaluated, so
    pass the test videos only. ``predictions`` is ``{vid: [Segment, ...]}`` with scores.
    Classes are indexed in order of first appearance, as for a gt.json. Unlike the file API,
    predictions of a class that has no segment here (a model class absent from a small split)
    are dropped by default and counted in ``num_ignored_predictions``.
    """
    gt = ground_truth_from_segments(ground_truth, "ground truth segments")
    pred = predictions_from_segments(predictions, "predicted segments", gt, unknown_labels)
    return evaluate_arrays(gt, pred, tiou_thresholds)

"""Greedy matching of predictions to ground truth, vectorised, for every threshold at once.

The official rule (ActivityNet): within a class, predictions in descending score order each
take the not-yet-matched ground-truth segment of their video with the highest tIoU >= the
threshold (equal tIoUs: the later segment in the file, as the official reversed ``argsort``
with numpy's stable sort of small arrays); unmatched predictions are false positives.

How it is vectorised: the tIoU of every (prediction, segment) pair of the same class and video
is one array expression; pairs below the smallest threshold can never match and are dropped. A
prediction whose remaining candidate segments are candidates of no other prediction is decided
at once. Only predictions that compete for a segment need the sequential rule, and only inside
their connected component (predictions linked by shared candidates), so the one Python loop
runs over the rank inside a component (a handful of steps on real data: duplicates of one
segment), each step handling every component and every threshold together.
"""
from __future__ import annotations

import numpy as np

from .io import GroundTruth, Predictions


def pairwise_tiou(p_start, p_end, g_start, g_end) -> np.ndarray:
    """Elementwise (broadcasting) tIoU of predicted and ground-truth segments, with the official
    formula and operation order, so threshold comparisons agree bit for bit. Two zero-length
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
    """Connected-component label of each prediction, linking predictions that share a
    candidate segment (a bipartite prediction-segment graph; linear time)."""
    from scipy.sparse import coo_matrix  # imported here: scipy.sparse takes a while to load
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix(
        (np.ones(len(row), dtype=np.int8), (row, n_rows + seg)), shape=(n_rows + n_gt,) * 2
    )
    return connected_components(graph, directed=False)[1][:n_rows]


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

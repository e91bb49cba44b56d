"""LACP (Lee & Byun, ICCV 2021): what differs from the shared codebase.

Official code: ``Pilhyeon/Learning-Action-Completeness-from-Points`` (``model.py``,
``train.py``, ``utils.py``, ``search.py``, ``decode.py``, ``test.py``). Inputs are early fused
(one feature per snippet); on TSL-300 the visual and audio features are concatenated. Class
arrays have C+1 columns with the background LAST. Official quirks kept by default (see
``recipes/lacp/README.md``):

- a dense run that reaches the last snippet is cut to end one snippet earlier (a run made only
  of the last snippet is dropped), in the score and feature contrast losses;
- only the last labelled class with at least two action segments counts in the feature
  contrast; ``loss_score = (loss_score_act + loss_score_bkg) ** 2``;
- the outer windows of the OIC truncate with ``int()``, so they are asymmetric;
- at inference (the shared :mod:`tsl300.postprocess` with LACP's constants) CAS-pool
  proposals are scored on the thresholded CAS, a run made only of upsampled index 0 gives no
  proposal, and hard NMS adds "+1" to lengths in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsl300 import timegrid
from tsl300.errors import RecipeError
from tsl300.losses.point import focal_bce_terms
from tsl300.methods.base import Method, TrainingContext, numpy_generator_state, restore_numpy_generator
from tsl300.methods.registry import ModelSpec, register_method
from tsl300.models.encoders import build_encoder
from tsl300.models.masked import masked_time_mean, masked_topk_mean, topk_counts
from tsl300.postprocess import threshold_runs

# --------------------------------------------------------------------------------------------
# Model


class LACPNetwork(nn.Module):
    """Conv(k3)+ReLU embedding (the feature-contrast feature), dropout, bias-free 1x1 classifier
    with C+1 outputs (background last)."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.7, r_act: int = 8):
        super().__init__()
        self.embedding = nn.Sequential(nn.Conv1d(in_dim, in_dim, 3, padding=1), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv1d(in_dim, num_classes + 1, 1, bias=False)
        self.r_act = r_act

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``x`` (B, T, D) -> ``vid_score`` (B, C), ``cas_sigmoid_fuse`` (B, T, C+1), ``features``
        (B, T, D). ``mask`` (B, T) zeroes padding before the conv and keeps it out of the
        video score, so a padded batch matches the official one-video-at-a-time forward."""
        keep = None if mask is None else mask[:, None, :].to(x.dtype)
        h = x.transpose(1, 2)
        features = self.embedding(h if keep is None else h * keep)
        if keep is not None:
            features = features * keep
        logits = self.classifier(self.dropout(features)).transpose(1, 2)
        return {**lacp_head(logits, labels, self.r_act, mask), "features": features.transpose(1, 2)}


def lacp_head(logits: torch.Tensor, labels: torch.Tensor | None = None,
              r_act: int = 8, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Fused scores ``sigma_c * (1 - sigma_bg)`` with ``sigma_bg`` appended, and the video score:
    the top-(T // r_act) mean of the UN-fused ``sigma_c``; with labels (training), negative
    classes use the mean over all T instead. With a ``mask`` the pooling uses each video's real
    length and k >= 1 (the official k = 0 for T < 8 gives NaN)."""
    sigma = torch.sigmoid(logits)
    bg = sigma[..., -1:]
    fused = torch.cat([sigma[..., :-1] * (1 - bg), bg], dim=-1)
    if mask is None:
        k = logits.shape[1] // r_act
        topk = sigma[..., :-1].topk(k, dim=1).values.mean(dim=1)
        mean = sigma[..., :-1].mean(dim=1)
    else:
        topk = masked_topk_mean(sigma[..., :-1], mask, topk_counts(mask.sum(dim=1), r_act))
        mean = masked_time_mean(sigma[..., :-1], mask)
    if labels is not None:
        topk = topk * labels + mean * (1 - labels)
    return {"vid_score": topk, "cas_sigmoid_fuse": fused}


def point_snippet_thumos(frames: np.ndarray, fps: float, feature_fps: float = 25.0) -> np.ndarray:
    """THUMOS14 points to LACP's 25-fps feature grid: ``int(frame * 25 / (fps * 16))``.

    (TSL-300 features are on the native-fps grid, where :func:`tsl300.timegrid.frame_to_snippet`
    applies instead.)"""
    frames = np.asarray(frames, np.float64)
    return (frames * (feature_fps / (fps * timegrid.SNIPPET_FRAMES))).astype(np.int64)


# --------------------------------------------------------------------------------------------
# OIC (outer-inner contrast) on inclusive segments


def _outer_bounds(s: int, e: int, n: int, lam: float) -> tuple[int, int]:
    length = e - s + 1
    return max(0, int(s - lam * length)), min(n - 1, int(e + lam * length))


def oic_inclusive(x: torch.Tensor, s: int, e: int, lam: float = 0.25) -> torch.Tensor:
    """``mean(x[s..e]) - mean(outer)`` with ``int()``-truncated outer windows (differentiable)."""
    o_s, o_e = _outer_bounds(s, e, x.shape[0], lam)
    inner = x[s:e + 1].mean()
    outer = torch.cat([x[o_s:s], x[e + 1:o_e + 1]])
    return inner - outer.mean() if len(outer) else inner


class _CumMean:
    """O(1) means of any slice of a 1-D sequence (float64 prefix sums)."""

    def __init__(self, x: np.ndarray):
        self.n = len(x)
        self.c = np.concatenate([[0.0], np.cumsum(np.asarray(x, np.float64))])

    def oic(self, s: int, e: int, lam: float = 0.25) -> float:
        o_s, o_e = _outer_bounds(s, e, self.n, lam)
        inner = (self.c[e + 1] - self.c[s]) / (e - s + 1)
        count = (s - o_s) + (o_e - e)
        if not count:
            return inner
        outer = (self.c[s] - self.c[o_s]) + (self.c[o_e + 1] - self.c[e + 1])
        return inner - outer / count


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as inclusive ``(first, last)``."""
    _, firsts, lasts = threshold_runs(np.asarray(mask, bool), np.ones(1), skip_lone_first_position=False)
    return list(zip(firsts.tolist(), lasts.tolist()))


# --------------------------------------------------------------------------------------------
# Seeds (``utils.select_seed``)


def _walk(ok: np.ndarray) -> int:
    """Length of the leading run of True in ``ok``."""
    stop = np.flatnonzero(~ok)
    return int(stop[0]) if len(stop) else len(ok)


def select_seed(bkg_score: np.ndarray, point_anno: np.ndarray, act_thresh: float = 0.1,
                bkg_thresh: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Background seeds and pseudo action points of one video.

    ``bkg_score`` (T,) is ``sigma_bg``; ``point_anno`` (T, K) marks the points. Returns
    ``act_seed`` (points plus pseudo action points, copies of their point's row) and
    ``bkg_seed`` (T,) in {0, 1}. A video without points gets no seeds.
    """
    bkg_score = np.asarray(bkg_score)
    act_seed = np.array(point_anno, dtype=np.float32, copy=True)
    T = len(bkg_score)
    bkg = np.zeros(T, np.float32)
    pts = np.flatnonzero(act_seed.max(axis=1) > 0)
    if not len(pts):
        return act_seed, bkg
    high = bkg_score >= bkg_thresh
    low = bkg_score <= act_thresh
    first, last = int(pts[0]), int(pts[-1])
    if first > 0:
        h = np.flatnonzero(high[:first])
        end = int(h[-1]) if len(h) else int(np.argmax(bkg_score[:first]))
        bkg[:end + 1] = 1
        n = _walk((low & (bkg < 1))[:first][::-1])
        act_seed[first - n:first] = act_seed[first]
    if last < T - 1:
        h = np.flatnonzero(high[last + 1:])
        start = last + 1 + (int(h[0]) if len(h) else int(np.argmax(bkg_score[last + 1:])))
        bkg[start:] = 1
        n = _walk((low & (bkg < 1))[last + 1:])
        act_seed[last + 1:last + 1 + n] = act_seed[last]
    for a, b in zip(pts[:-1].tolist(), pts[1:].tolist()):
        if b - a <= 1:
            continue
        gap = bkg_score[a + 1:b]
        h = np.flatnonzero(gap >= bkg_thresh)
        if len(h) >= 2:
            bkg[a + 1 + h[0]:a + 2 + h[-1]] = 1
        else:
            bkg[a + 1 + int(np.argmax(gap))] = 1
        ok = (low & (bkg < 1))[a + 1:b]
        n = _walk(ok)
        act_seed[a + 1:a + 1 + n] = act_seed[a]
        n = _walk(ok[::-1])
        act_seed[b - n:b] = act_seed[b]
    return act_seed, bkg


# --------------------------------------------------------------------------------------------
# Optimal sequence search (``search.py``, ``decode.py``, ``grammar.py``)


def search_grammar(act_seed: np.ndarray, bkg_seed: np.ndarray,
                   c: int) -> tuple[list[int], list[list[int]]] | None:
    """Transcript (0 background / 1 action) and seed ranges for class ``c``.

    Range ``j`` is ``[first, last]``: segment ``j`` must cover those snippets (``first = -1``
    means "starts at 0"); ``[T, T]`` closes the list. Background seeds of ``c`` are
    ``bkg_seed`` plus other classes' action seeds. Returns None when ``c`` has no seed, or when
    the seeds admit no consistent transcript (possible only with hand-made seeds).
    """
    T = act_seed.shape[0]
    act_idx = np.flatnonzero(act_seed[:, c] > 0)
    if not len(act_idx):
        return None
    other = np.clip(act_seed.max(axis=1) - act_seed[:, c], 0, None)
    bkg = (np.asarray(bkg_seed) + other) > 0
    act_runs = [list(r) for r in runs_of(act_seed[:, c] > 0)]
    first = act_runs[0][0]
    transcript = [1]
    if first > 0:
        before = np.flatnonzero(bkg[:first])
        if len(before):
            bkg[:before[-1] + 1] = True
            transcript = [0, 1]
        else:
            act_runs[0][0] = -1
    for prev, run in zip(act_runs[:-1], act_runs[1:]):
        transcript += [0, 1]
        gap = np.flatnonzero(bkg[prev[1] + 1:run[0]]) + prev[1] + 1
        if len(gap):
            bkg[gap[0]:gap[-1] + 1] = True
    last = act_runs[-1][1]
    if last < T - 1:
        after = np.flatnonzero(bkg[last + 1:])
        if len(after):
            bkg[last + 1 + after[0]:] = True
            transcript.append(0)
        else:
            act_runs[-1][1] = T - 1
    bkg_runs = runs_of(bkg)
    ranges: list[list[int]] = []
    for a0, a1 in act_runs:
        taken = [r for r in bkg_runs if r[0] < a0]
        if taken:
            ranges.append([taken[0][0], taken[-1][1]])
            bkg_runs = bkg_runs[len(taken):]
        ranges.append([a0, a1])
    if bkg_runs:
        ranges.append([bkg_runs[0][0], bkg_runs[-1][1]])
    ranges.append([T, T])
    if len(transcript) != len(ranges) - 1:
        return None
    return transcript, ranges


def _sequence_labels(transcript: Sequence[int], closed: Sequence[int], T: int) -> np.ndarray:
    lengths = list(closed) + [T - sum(closed)]
    return np.repeat(np.asarray(transcript[:len(lengths)]), lengths)


def decode_sequence(p: np.ndarray, transcript: Sequence[int], ranges: Sequence[Sequence[int]],
                    budget: int = 25, prune_thresh: float = 0.1,
                    lam: float = 0.25) -> tuple[np.ndarray, float]:
    """The official greedy beam decoder: the 0/1 sequence following ``transcript`` whose
    segments respect ``ranges`` and maximise the mean OIC (actions on ``p``, background on
    ``1 - p``). A hypothesis is the tuple of its closed segment lengths (its history); its
    running score is the mean OIC of its closed segments (``+inf`` before the first).

    Pruning after each snippet: drop hypotheses scoring below ``prune_thresh`` except the
    best, then keep the ``budget`` best plus ties at the cut. Survivors are rescored on all
    their runs; the best wins, the later one on a tie.
    """
    p = np.asarray(p, np.float32)
    T = len(p)
    cols = (_CumMean(1 - p), _CumMean(p))  # column = label (0 background, 1 action)
    n_seg = len(transcript)
    hyps: dict[tuple[int, ...], float] = {(): np.inf}

    def order_key(item: tuple[tuple[int, ...], float], t: int):
        closed, score = item  # official sort: score, then segment, length, history string
        return (score, len(closed), t - sum(closed), ",".join(["0", *map(str, closed)]))

    for t in range(1, T):
        new: dict[tuple[int, ...], float] = {}
        for closed, score in hyps.items():
            j = len(closed)
            forced = t == ranges[j + 1][0]
            if not forced:
                new[closed] = score
                if t <= ranges[j][1]:
                    continue
            if j + 1 >= n_seg:
                continue
            length = t - sum(closed)
            oic = cols[transcript[j]].oic(t - length, t - 1, lam)
            new[closed + (length,)] = oic if j == 0 else (score * j + oic) / (j + 1)
        ranked = sorted(new.items(), key=lambda it: order_key(it, t + 1))
        drop = 0
        while drop < len(ranked) - 1 and ranked[drop][1] < prune_thresh:
            drop += 1
        if len(ranked) - drop > budget:
            end = len(ranked) - budget
            base = ranked[end][1]
            while end > drop and ranked[end - 1][1] == base:
                end -= 1
            drop = max(drop, end)
        for closed, _ in ranked[:drop]:
            del new[closed]
        hyps = new
    best_labels, best_score = None, -np.inf
    for closed in hyps:
        labels = _sequence_labels(transcript, closed, T)
        scores = [cols[1].oic(s, e, lam) for s, e in runs_of(labels > 0)]
        scores += [cols[0].oic(s, e, lam) for s, e in runs_of(labels < 1)]
        score = float(np.mean(scores))
        if score >= best_score:
            best_labels, best_score = labels, score
    return best_labels.astype(np.float32), best_score


@dataclass
class ClassSearch:
    cls: int
    transcript: list[int]
    seed_ranges: list[list[int]]
    labels: np.ndarray
    score: float


def search_with_seeds(cas_sigmoid_fuse: np.ndarray, act_seed: np.ndarray, bkg_seed: np.ndarray,
                      budget: int = 25, prune_thresh: float = 0.1, lam: float = 0.25,
                      ) -> tuple[np.ndarray, float, list[ClassSearch]]:
    """Search every class with action seeds: ``(pseudo_labels (T, C), sequence_score, details)``."""
    cas = np.asarray(cas_sigmoid_fuse, np.float32)
    pseudo = np.zeros(act_seed.shape, np.float32)
    details = []
    for c in range(act_seed.shape[1]):
        grammar = search_grammar(act_seed, bkg_seed, c)
        if grammar is None:
            continue
        labels, score = decode_sequence(cas[:, c], *grammar, budget, prune_thresh, lam)
        pseudo[:, c] = labels
        details.append(ClassSearch(c, grammar[0], grammar[1], labels, score))
    seq_score = float(np.mean([d.score for d in details])) if details else 0.0
    return pseudo, seq_score, details


def optimal_sequence_search(cas_sigmoid_fuse: np.ndarray, point_anno: np.ndarray,
                            budget: int = 25, prune_thresh: float = 0.1, lam: float = 0.25,
                            ) -> tuple[np.ndarray, float, list[ClassSearch]]:
    """Seeds from ``select_seed`` (on ``sigma_bg``), then :func:`search_with_seeds`."""
    cas = np.asarray(cas_sigmoid_fuse, np.float32)
    act_seed, bkg_seed = select_seed(cas[:, -1], point_anno)
    return search_with_seeds(cas, act_seed, bkg_seed, budget, prune_thresh, lam)


# --------------------------------------------------------------------------------------------
# Losses (``train.Total_loss``)


def dense_segments(dense: np.ndarray) -> tuple[list[tuple[int, int]], bool]:
    """Action runs of a dense 0/1 sequence with the official cut, and whether it has any
    transition. A run reaching ``T-1`` ends at ``T-2``; a run of ``T-1`` alone is dropped."""
    d = np.asarray(dense, np.float32)
    T = len(d)
    diff = d[1:] - d[:-1]
    idx = np.flatnonzero(diff).tolist()
    if not idx:
        return [], False
    if diff[idx[0]] != 1:
        idx = [-1] + idx
    if diff[idx[-1]] != -1:
        idx = idx + [T - 2]
    segs = [(a + 1, b) for a, b in zip(idx[0::2], idx[1::2]) if b - a >= 1]
    return segs, True


def feature_contrast_items(act_segments: Sequence[tuple[int, int]], T: int) -> list[tuple[int, int, int]]:
    """``(label, start, end_exclusive)`` items of the feature contrast, in the official order:
    the leading background, then each action followed by its trailing background (none after
    an action ending at ``T-2``; ``[e+1, T-2]`` after the last)."""
    items = []
    if act_segments and act_segments[0][0] > 0:
        items.append((0, 0, act_segments[0][0]))
    for n, (s, e) in enumerate(act_segments):
        items.append((1, s, e + 1))
        if e != T - 2:
            end = T - 2 if n == len(act_segments) - 1 else act_segments[n + 1][0] - 1
            items.append((0, e + 1, end + 1))
    return items


def sample_segment_feature(features: torch.Tensor, start: int, end_exclusive: int,
                           rng: np.random.RandomState, num_divide: int = 3,
                           draws: list | None = None) -> torch.Tensor:
    """Mean of ``num_divide`` features, one drawn in each equal sub-interval (numpy RNG)."""
    step = (end_exclusive - start) / num_divide
    picks = []
    for i in range(num_divide):
        low, high = int(start + step * i), int(start + step * (i + 1))
        high = high + 1 if low >= high else high
        picks.append(int(rng.randint(low, high)))
        if draws is not None:
            draws.append([low, high, picks[-1]])
    return features[picks].mean(dim=0)


def feature_contrast_loss(vectors: torch.Tensor, labels: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """``-sum_i l_i log(sum_j l_j S_ji / sum_j S_ji) / sum l``, ``S = exp(cos / tau)``, no diagonal."""
    v = vectors / vectors.norm(dim=1, keepdim=True)
    sim = torch.exp(v @ v.T / tau) * (1 - torch.eye(len(v), dtype=v.dtype, device=v.device))
    scores = (sim * labels[:, None]).sum(dim=0) / sim.sum(dim=0)
    return -(labels * torch.log(scores)).sum() / labels.sum()


def focal_bce(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-element ``((1-p) y + p (1-y))^2 * BCE(p, y)`` (torch BCE, log clamped at -100)."""
    return focal_bce_terms(p, target, gamma=2)


@dataclass
class LACPLoss:
    lambdas: tuple[float, float, float, float, float] = (1, 0.5, 1, 1, 1)
    tau: float = 0.1
    sampling_size: int = 3
    oic_delta: float = 0.25
    act_thresh: float = 0.1
    bkg_thresh: float = 0.95
    square_score: bool = True  # official: (act + bkg) ** 2; False: act + bkg
    last_class_feat_only: bool = True  # official: the last class with >= 2 actions; False: mean


def lacp_video_loss(vid_score: torch.Tensor, cas_sigmoid_fuse: torch.Tensor,
                    features: torch.Tensor, label: torch.Tensor, point_anno: torch.Tensor,
                    dense_anno: np.ndarray | None, rng: np.random.RandomState,
                    config: LACPLoss = LACPLoss(), trace: dict | None = None,
                    ) -> dict[str, torch.Tensor]:
    """``Total_loss`` for one video (the official trainer forwards videos one at a time).

    Shapes: ``vid_score``/``label`` (C,), ``cas_sigmoid_fuse`` (T, C+1), ``features`` (T, D),
    ``point_anno`` (T, C), ``dense_anno`` (T, C) from the last search or None before it.
    ``trace``, when given, receives the seeds, OIC segments and feature draws.
    """
    zero = cas_sigmoid_fuse.new_zeros(())
    T = cas_sigmoid_fuse.shape[0]
    loss_vid = F.binary_cross_entropy(vid_score, label)
    P = torch.cat([point_anno, point_anno.new_zeros(T, 1)], dim=1)  # (T, C+1) point targets, background 0
    w = P.max(dim=1).values  # (T,) 1 at point snippets, 0 elsewhere
    loss_frame = ((focal_bce(cas_sigmoid_fuse, P).sum(dim=1) * w).sum() / w.sum()
                  if w.sum() > 0 else zero)  # official: NaN for a video without points
    _, bkg_seed = select_seed(cas_sigmoid_fuse[:, -1].detach().cpu().numpy(), P.cpu().numpy(),
                              config.act_thresh, config.bkg_thresh)
    bkg_w = torch.as_tensor(bkg_seed, dtype=cas_sigmoid_fuse.dtype, device=cas_sigmoid_fuse.device)  # (T,) seeds
    bkg_target = torch.zeros_like(P)  # (T, C+1) one-hot on the background column
    bkg_target[:, -1] = 1
    if bkg_w.sum() > 0:
        loss_frame_bkg = (focal_bce(cas_sigmoid_fuse, bkg_target).sum(dim=1) * bkg_w).sum() / bkg_w.sum()
    else:  # the official code divides by zero here (NaN); no seed means no term
        loss_frame_bkg = zero
    act_terms, bkg_terms, feat_terms = [], [], []
    oic_trace, draw_trace = [], []
    if dense_anno is not None:
        dense = np.asarray(dense_anno, np.float32)
        classes = np.flatnonzero(label.detach().cpu().numpy() > 0)
        for c in classes:
            acts, moving = dense_segments(dense[:, c])
            if not moving:
                continue
            items = feature_contrast_items(acts, T)
            vectors = []
            for kind, s, e in items:
                draws: list | None = [] if trace is not None else None
                vectors.append(sample_segment_feature(features, s, e, rng,
                                                      config.sampling_size, draws))
                if trace is not None:
                    draw_trace.append({"start": s, "end_exclusive": e, "draws": draws})
                if kind == 1:
                    score = oic_inclusive(cas_sigmoid_fuse[:, c], s, e - 1, config.oic_delta)
                    act_terms.append(1 - score)
                    if trace is not None:
                        oic_trace.append({"kind": "act", "start": s, "end": e - 1, "score": float(score.detach())})
            labels_c = torch.tensor([float(k) for k, _, _ in items], dtype=features.dtype,
                                    device=features.device)
            if labels_c.sum() > 1:
                feat_terms.append(feature_contrast_loss(torch.stack(vectors), labels_c, config.tau))
        for c in classes:
            bkgs, moving = dense_segments(1 - dense[:, c])
            for s, e in bkgs:
                score = oic_inclusive(1 - cas_sigmoid_fuse[:, c], s, e, config.oic_delta)
                bkg_terms.append(1 - score)
                if trace is not None:
                    oic_trace.append({"kind": "bkg", "start": s, "end": e, "score": float(score.detach())})
    loss_score_act = torch.stack(act_terms).mean() if act_terms else zero
    loss_score_bkg = torch.stack(bkg_terms).mean() if bkg_terms else zero
    if not act_terms or not feat_terms:
        loss_feat = zero
    elif config.last_class_feat_only:
        loss_feat = feat_terms[-1]
    else:
        loss_feat = torch.stack(feat_terms).mean()
    loss_score = loss_score_act + loss_score_bkg
    if config.square_score:
        loss_score = loss_score ** 2
    lam = config.lambdas
    total = (lam[0] * loss_vid + lam[1] * loss_frame + lam[2] * loss_frame_bkg
             + lam[3] * loss_score + lam[4] * loss_feat)
    if trace is not None:
        trace.update(bkg_seed=bkg_seed, oic_segments=oic_trace, feature_samples=draw_trace)
    return {"loss_vid": loss_vid, "loss_frame": loss_frame, "loss_frame_bkg": loss_frame_bkg,
            "loss_score_act": loss_score_act, "loss_score_bkg": loss_score_bkg,
            "loss_score": loss_score, "loss_feat": loss_feat, "loss_total": total}


# --------------------------------------------------------------------------------------------
# The recipe's Method (inference: the shared post-processing with LACP's constants, set in the
# recipe's ``postprocess`` section; it reproduces the official ``test()`` golden cases)


@dataclass
class LACPModel:
    """Network and search options; defaults are the official THUMOS14 values."""

    visual: str = "rgb"
    audio: str = "logmfcc"            # "" for visual only
    audio_dim: int = 1024             # audio encoder width; input = visual + audio (official 2048)
    audio_time_groups: int = 8
    audio_dropout: float = 0.2
    dropout: float = 0.7
    r_act: int = 8
    search_freq: int = 10             # optimal sequence search every this many steps; 0: never
    budget: int = 25
    prune_thresh: float = 0.1
    search_lambda: float = 0.25


def points_matrix(points: np.ndarray, T: int, num_classes: int) -> np.ndarray:
    """(T, C) 0/1 point annotations from ``[snippet, class]`` rows."""
    anno = np.zeros((T, num_classes), np.float32)
    pts = np.asarray(points, np.int64).reshape(-1, 2)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < T)]
    anno[pts[:, 0], pts[:, 1]] = 1.0
    return anno


@register_method("lacp")
class LACP(Method):
    """LACP on the shared batch layout: visual and encoded audio concatenated (early fusion)."""

    ModelConfig = LACPModel
    LossConfig = LACPLoss
    supervision = "point"

    def __init__(self, model: LACPModel, loss: LACPLoss, spec: ModelSpec):
        super().__init__()
        mods = [m for m in (model.visual, model.audio) if m]
        spec.require("lacp", *mods)
        visual_dim = spec.vector_dim("lacp", model.visual)
        if len(loss.lambdas) != 5:
            raise RecipeError(f"lacp: loss.lambdas needs 5 numbers, got {loss.lambdas!r}")
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        self.audio_encoder = (build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim,
                                            model.audio_dropout, model.audio_time_groups)
                              if model.audio else None)
        in_dim = visual_dim + (model.audio_dim if model.audio else 0)
        self.net = LACPNetwork(in_dim, spec.num_classes, model.dropout, model.r_act)
        self.dense: dict[str, np.ndarray] = {}  # vid -> (T, C) pseudo labels of the last search
        self.rng = np.random.RandomState(0)     # feature sampling (official: numpy's global RNG)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch["mask"]
        x = batch["features"][self.cfg.visual].float()
        if self.audio_encoder is not None:
            audio = self.audio_encoder(batch["features"][self.cfg.audio].float(), mask)
            x = torch.cat([x, audio.transpose(1, 2)], dim=-1)
        labels = batch["video_labels"].to(x) if self.training else None
        return {**self.net(x, labels, mask), "mask": mask}

    def compute_loss(self, outputs, batch, step):
        """``Total_loss`` per video (the official trainer forwards one video at a time), averaged."""
        C = self.spec.num_classes
        totals, logs = [], {}
        for b, vid in enumerate(batch["vids"]):
            n = int(batch["lengths"][b])
            anno = torch.from_numpy(points_matrix(batch["points"][b], n, C)).to(outputs["features"])
            dense = self.dense.get(vid)
            terms = lacp_video_loss(outputs["vid_score"][b], outputs["cas_sigmoid_fuse"][b, :n],
                                    outputs["features"][b, :n], batch["video_labels"][b].to(anno), anno,
                                    dense if dense is not None and len(dense) == n else None,
                                    self.rng, self.loss_cfg)
            totals.append(terms["loss_total"])
            for k, v in terms.items():
                logs[k] = logs.get(k, 0.0) + float(v.detach()) / len(batch["vids"])
        return torch.stack(totals).mean(), logs

    def training_state(self) -> dict[str, Any]:
        """The searched dense pseudo labels and the feature-sampling generator."""
        return {"dense": dict(self.dense), "rng": numpy_generator_state(self.rng)}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.dense = {vid: np.asarray(labels) for vid, labels in state.get("dense", {}).items()}
        if "rng" in state:
            restore_numpy_generator(self.rng, state["rng"])

    def on_step_end(self, step: int, context: TrainingContext) -> None:
        if self.cfg.search_freq and (step + 1) % self.cfg.search_freq == 0:
            self.search(context.predict(context.videos))

    def search(self, passes: Iterable[tuple[list, dict, dict[str, torch.Tensor]]]) -> float:
        """Optimal sequence search on the eval-mode outputs of a pass over the training videos
        (:attr:`TrainingContext.predict`); stores the dense pseudo labels. Returns the mean
        sequence score."""
        C = self.spec.num_classes
        scores = []
        for group, _, outputs in passes:
            cas = outputs["cas_sigmoid_fuse"].cpu().numpy()  # (B, T, C + 1)
            for b, video in enumerate(group):
                n = video.num_snippets
                if not len(video.points):
                    continue
                pseudo, score, _ = optimal_sequence_search(
                    cas[b, :n], points_matrix(video.points, n, C), self.cfg.budget,
                    self.cfg.prune_thresh, self.cfg.search_lambda)
                self.dense[video.vid] = pseudo
                scores.append(score)
        return float(np.mean(scores)) if scores else 0.0

    def scores(self, outputs, batch):
        probs = outputs["cas_sigmoid_fuse"]
        return {"cas": probs[..., :-1], "video_scores": outputs["vid_score"], "actionness": 1 - probs[..., -1]}

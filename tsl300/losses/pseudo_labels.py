"""TSL-Net's pseudo-label search around points, and the losses on its output.

Between and around the annotated point snippets the search marks (official
``utils.select_seed_act_score``, itself adapted from LACP's ``select_seed``):

* **background seeds** (soft): in each region (left of the first point, between two points,
  right of the last) the frames chosen get the value ``m`` = the region's highest background
  score. Left: frames with background >= 0.95 and everything before the last of them when
  their values sum to >= 1 (else everything up to the arg-max); right: mirrored; between
  points: the span from the first to the last such frame when the sum is >= 2 (else those
  frames and the arg-max).
* **pseudo actions** (greedy): walking outward from each point (both ways inside a gap), a
  frame joins while ``background <= max class score`` and its background seed is < 1; it takes
  the model's own probabilities on every channel.

Here it is vectorised over the batch and time: per-region statistics with ``scatter_reduce``,
the greedy walks with cumulative counts of blocking frames. There is no loop over snippets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tsl300.losses.point import focal_bce_terms, weighted_mean_per_video


def _region_reduce(values: torch.Tensor, index: torch.Tensor, size: int, reduce: str,
                   init: float) -> torch.Tensor:
    out = torch.full((size,), init, dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, index, values, reduce=reduce, include_self=True)


@torch.no_grad()
def search_pseudo_labels(probs: torch.Tensor, point_targets: torch.Tensor,
                         mask: torch.Tensor | None = None, bkg_thresh: float = 0.95
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-action and soft background seeds around the points (official semantics).

    Args:
        probs: (B, T, C+1) fused probabilities (classes, background last); detached here.
        point_targets: (B, T, C+1) point targets (non-zero rows are the points).
        mask: (B, T) bool real snippets (default all).
    Returns:
        ``act_seed`` (B, T, C+1): the point targets, plus ``probs`` at pseudo-action frames;
        ``bkg_seed`` (B, T): the soft background weights. A video without points gets no seeds
        (the official code fails on it).
    """
    p = probs.detach()
    y = point_targets.detach().to(p.dtype)
    B, T, _ = p.shape
    if mask is None:
        mask = torch.ones(B, T, dtype=torch.bool, device=p.device)
    bkg = p[..., -1]
    t = torch.arange(T, device=p.device).expand(B, T)
    is_point = (y.amax(dim=-1) > 0) & mask
    valid = mask & ~is_point
    num_points = is_point.sum(dim=1, keepdim=True)  # (B, 1)
    region = torch.cumsum(is_point.long(), dim=1)  # for a non-point: points before it
    slots = T + 1
    flat = (torch.arange(B, device=p.device)[:, None] * slots + region)
    idx = torch.where(valid, flat, torch.full_like(flat, B * slots)).reshape(-1)  # dump slot
    size = B * slots + 1

    thresh = torch.tensor(bkg_thresh, dtype=p.dtype)  # compared in the scores' precision
    marked = valid & (bkg >= thresh)
    bkg_flat = torch.where(valid, bkg, torch.full_like(bkg, float("-inf"))).reshape(-1)
    top = _region_reduce(bkg_flat, idx, size, "amax", float("-inf"))
    n_marks = _region_reduce(marked.reshape(-1).to(p.dtype), idx, size, "sum", 0.0)
    t_float = t.to(torch.float64)
    big = float(T)
    first = _region_reduce(torch.where(marked, t_float, big).reshape(-1), idx, size, "amin", big)
    last = _region_reduce(torch.where(marked, t_float, -1.0).reshape(-1), idx, size, "amax", -1.0)
    m = top.index_select(0, idx).reshape(B, T)
    at_max = valid & (bkg == m)
    argmax = _region_reduce(torch.where(at_max, t_float, big).reshape(-1), idx, size, "amin", big)

    def per_frame(stat):
        return stat.index_select(0, idx).reshape(B, T)

    mass = per_frame(n_marks) * m  # = sum of the marked seed values (each equals m)
    first_f, last_f, argmax_f = per_frame(first), per_frame(last), per_frame(argmax)
    tf = t_float
    is_left = region == 0
    is_right = region == num_points
    left_sel = tf <= torch.where(mass >= 1, last_f, argmax_f)
    right_sel = tf >= torch.where(mass >= 1, first_f, argmax_f)
    gap_sel = torch.where(mass >= 2, (tf >= first_f) & (tf <= last_f), marked | (tf == argmax_f))
    selected = torch.where(is_left, left_sel, torch.where(is_right, right_sel, gap_sel))
    selected = selected & valid & (num_points > 0)
    bkg_seed = torch.where(selected, m, torch.zeros_like(m))

    ok = valid & (bkg <= p[..., :-1].amax(dim=-1)) & (bkg_seed < 1)
    blocked = (~ok).long()
    # forward walks start after a point (gaps and the right region)
    prev_point = torch.cummax(torch.where(is_point, t, torch.full_like(t, -1)), dim=1).values
    csum = torch.cumsum(blocked, dim=1)
    csum_at_prev = torch.gather(csum, 1, prev_point.clamp_min(0))
    forward = valid & (prev_point >= 0) & (csum - csum_at_prev == 0)
    # backward walks start before a point (the left region and gaps)
    next_point = torch.flip(torch.cummin(torch.flip(torch.where(is_point, t, torch.full_like(t, T)), [1]), dim=1).values, [1])
    rsum = torch.flip(torch.cumsum(torch.flip(blocked, [1]), dim=1), [1])
    rsum = torch.cat([rsum, torch.zeros(B, 1, dtype=rsum.dtype, device=rsum.device)], dim=1)
    rsum_at_next = torch.gather(rsum, 1, next_point)
    backward = valid & (next_point < T) & (rsum[:, :T] - rsum_at_next == 0)
    walked = forward | backward
    act_seed = torch.where(walked[..., None], p, y)
    return act_seed, bkg_seed


def pseudo_action_loss(probs: torch.Tensor, act_seed: torch.Tensor, gamma: float = 2.0,
                       scale: float = 0.5) -> torch.Tensor:
    """Per-video soft pseudo-action loss (B,).

    Focal BCE towards ``act_seed`` weighted elementwise by ``act_seed`` and normalised by
    ``sum_t max_c act_seed``; the focal factor uses the hardened seed (``> 0.5`` pulls up,
    ``< 0.5`` pulls down, exactly 0.5 not at all). ``scale`` is the official extra 0.5.
    """
    s = act_seed
    focal = ((1 - probs) * (s > 0.5).to(probs.dtype) + probs * (s < 0.5).to(probs.dtype)) ** gamma
    bce = F.binary_cross_entropy(probs, s, reduction="none")
    return scale * weighted_mean_per_video(focal * bce, s)


def background_loss(probs: torch.Tensor, bkg_seed: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-video background loss (B,): focal BCE towards one-hot background, weighted by the
    (soft) background seeds and normalised by their sum."""
    target = torch.zeros_like(probs)
    target[..., -1] = 1
    return weighted_mean_per_video(focal_bce_terms(probs, target, gamma), bkg_seed[..., None])


def seed_counts(act_seed: torch.Tensor, bkg_seed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Official logging counts per video: frames with any action seed > 0 (points included)
    and frames with a background seed > 0."""
    return (act_seed.amax(dim=-1) > 0).sum(dim=1), (bkg_seed > 0).sum(dim=1)

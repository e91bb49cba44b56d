"""Point-level supervision: label-smoothed point targets and the focal BCE frame loss.

TSL-Net puts, at each point's snippet, 0.9 on the labelled class and 0.1 on the others
(label smoothing); the frame loss is a focal (gamma 2) BCE on every channel, background
included, weighted per snippet and normalised by the total weight (paper Eq. 7).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def smoothed_point_targets(points: Sequence[np.ndarray], num_snippets: int, num_classes: int,
                           on_value: float = 0.9, off_value: float = 0.1,
                           background: bool = True, device=None,
                           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, T, C [+1]) targets: ``on_value`` on the point's class, ``off_value`` on the other
    classes at each point's snippet, 0 elsewhere; a zero background column when ``background``.

    ``points[b]`` is an int array (K, 2) of ``[snippet, class_index]`` rows. When two points
    share a snippet the later row wins, as in the official loader.
    """
    width = num_classes + (1 if background else 0)
    target = torch.zeros(len(points), num_snippets, width, dtype=dtype, device=device)
    for b, pts in enumerate(points):  # loop over videos, not snippets
        pts = np.asarray(pts, dtype=np.int64).reshape(-1, 2)
        if not len(pts):
            continue
        # keep the last row for each snippet
        rev_unique, rev_first = np.unique(pts[::-1, 0], return_index=True)
        last = pts[::-1][rev_first]
        snip = torch.as_tensor(last[:, 0], device=device)
        cls = torch.as_tensor(last[:, 1], device=device)
        if snip.max() >= num_snippets or snip.min() < 0:
            raise ValueError(f"video {b}: point snippet outside [0, {num_snippets})")
        target[b, snip, :num_classes] = off_value
        target[b, snip, cls] = on_value
    return target


def focal_bce_terms(probs: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0,
                    focal_targets: torch.Tensor | None = None) -> torch.Tensor:
    """Elementwise ``focal * BCE(probs, targets)``.

    ``focal = ((1 - p) * q + p * (1 - q)) ** gamma`` with ``q = focal_targets`` (default the
    targets themselves; the pseudo-action loss passes hardened ones). BCE clamps its logs at
    -100 like ``torch.nn.BCELoss``.
    """
    q = targets if focal_targets is None else focal_targets
    focal = ((1 - probs) * q + probs * (1 - q)) ** gamma
    return focal * F.binary_cross_entropy(probs, targets, reduction="none")


def weighted_mean_per_video(terms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_{t,c} terms * weights / sum_t w_t`` per video (B,), 0 where the weights sum to 0.

    ``weights`` is (B, T, C) or (B, T, 1); the denominator is its per-snippet maximum summed
    over time (the official normalisers: number of points, pseudo-action mass, background mass).
    """
    num = (terms * weights).sum(dim=(1, 2))
    den = weights.amax(dim=2).sum(dim=1)
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


def point_frame_loss(probs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None,
                     gamma: float = 2.0) -> torch.Tensor:
    """TSL-Net's labelled-frame loss per video (B,).

    Args:
        probs: (B, T, C+1) fused probabilities (classes, background).
        targets: (B, T, C+1) from :func:`smoothed_point_targets`.
        mask: (B, T) real snippets (padded ones never carry points; used as a guard).
    Each snippet is weighted by its largest target (0.9 at points), over all channels.
    """
    weights = targets.amax(dim=2, keepdim=True)
    if mask is not None:
        weights = weights * mask[..., None].to(weights.dtype)
    return weighted_mean_per_video(focal_bce_terms(probs, targets, gamma), weights)

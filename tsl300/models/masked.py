"""Masked temporal reductions, so padded batches give the same numbers as single videos."""
from __future__ import annotations

import torch

from .layers import masked_topk_mean, topk_counts


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` counting only positions where ``mask`` (broadcastable) is True."""
    m = mask.to(x.dtype)
    total = (x * m).sum(dim=dim, keepdim=keepdim)
    count = m.expand_as(x).sum(dim=dim, keepdim=keepdim).clamp_min(1.0)
    return total / count


def masked_topk_mean_ratio(x: torch.Tensor, mask: torch.Tensor, ratio: int) -> torch.Tensor:
    """Top-k mean over time of (B, T, C) ``x`` with k = max(1, len // ratio) per video."""
    return masked_topk_mean(x, mask, topk_counts(mask.sum(dim=1), ratio))

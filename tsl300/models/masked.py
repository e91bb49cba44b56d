"""Masked temporal reductions, so padded batches give the same numbers as single videos."""
from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` counting only positions where ``mask`` (broadcastable) is True."""
    m = mask.to(x.dtype)
    total = (x * m).sum(dim=dim, keepdim=keepdim)
    count = m.expand_as(x).sum(dim=dim, keepdim=keepdim).clamp_min(1.0)
    return total / count


def masked_topk_mean_ratio(x: torch.Tensor, mask: torch.Tensor, ratio: int, minimum: int = 1) -> torch.Tensor:
    """Top-k mean over time of (B, T, C) ``x`` with k = max(minimum, len // ratio) per video."""
    return masked_topk_mean(x, mask, topk_counts(mask.sum(dim=1), ratio, minimum))


def topk_counts(lengths: torch.Tensor, ratio: int, minimum: int = 1) -> torch.Tensor:
    """k = length // ratio per video (the official ``T // r_act``), at least ``minimum``.

    The official code lets k be 0 for T < ratio, which makes a mean over nothing (NaN);
    ``minimum=1`` avoids that, ``minimum=0`` keeps the official behaviour.
    """
    return torch.clamp(lengths.long() // ratio, min=minimum)


def masked_topk_mean(x: torch.Tensor, mask: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Mean over time of the ``k[b]`` largest values of ``x[b, :, c]`` among real snippets.

    Args:
        x: (B, T, C) scores.
        mask: (B, T) bool, True on real snippets.
        k: (B,) long, how many to average per video.
    Returns:
        (B, C).
    """
    filled = x.masked_fill(~mask[..., None], float("-inf"))
    ordered, _ = filled.sort(dim=1, descending=True)
    rank = torch.arange(x.shape[1], device=x.device)[None, :, None]
    keep = rank < k[:, None, None]
    total = torch.where(keep, ordered, torch.zeros_like(ordered)).sum(dim=1)
    return total / k[:, None].to(x.dtype)


def masked_time_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real snippets: (B, T, C) -> (B, C)."""
    return masked_mean(x, mask[..., None], dim=1)

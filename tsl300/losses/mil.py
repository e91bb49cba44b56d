"""Top-k multiple-instance learning: video scores from the k = T // r highest snippet scores."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tsl300.models.masked import masked_topk_mean_ratio


def topk_video_scores(cas: torch.Tensor, mask: torch.Tensor, r: int = 8, min_k: int = 1) -> torch.Tensor:
    """(B, T, C) snippet scores -> (B, C) mean of the top ``k = T // r`` real snippets."""
    return masked_topk_mean_ratio(cas, mask, r, min_k)


def topk_mil_loss(cas: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, r: int = 8,
                  min_k: int = 1, probabilities: bool = True, normalise_labels: bool = False) -> torch.Tensor:
    """Per-video MIL loss (B,): BCE between top-k pooled scores and the video labels.

    Args:
        cas: (B, T, C) probabilities (``probabilities=True``) or logits (pooled, then softmax
            over classes with a cross-entropy against the normalised labels, as W-TALC/CO2-Net).
        labels: (B, C) multi-hot.
        normalise_labels: divide labels by their sum (for the softmax form).
    """
    pooled = topk_video_scores(cas, mask, r, min_k)
    if probabilities:
        return F.binary_cross_entropy(pooled.clamp(0.0, 1.0), labels, reduction="none").mean(dim=1)
    target = labels
    if normalise_labels:
        total = labels.sum(dim=1, keepdim=True)
        target = labels / torch.where(total > 0, total, torch.ones_like(total))
    return -(target * torch.log_softmax(pooled, dim=1)).sum(dim=1)

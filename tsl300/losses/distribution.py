"""Video-level sentiment label distribution (TSL-Net's "label-based" video loss, paper Eq. 5-6).

The target is the normalised per-class point count of a video; the prediction a softmax over
classes of the top-k pooled distribution-head logits. The loss is ``nn.KLDivLoss()`` with its
legacy 'mean' reduction, i.e. the KL divergence divided by the number of classes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def label_distribution_targets(points_per_class: torch.Tensor) -> torch.Tensor:
    """(B, C) point counts -> (B, C) distributions (rows without points stay 0)."""
    total = points_per_class.sum(dim=1, keepdim=True)
    return points_per_class / torch.where(total > 0, total, torch.ones_like(total))


def label_distribution_kl(pred: torch.Tensor, target: torch.Tensor,
                          divide_by_classes: bool = True) -> torch.Tensor:
    """Per-video ``KL(target || pred)`` (B,); entries with target 0 contribute 0.

    ``divide_by_classes=True`` matches the official ``nn.KLDivLoss()`` ('mean' over the C
    entries); False gives the plain KL divergence.
    """
    kl = F.kl_div(torch.log(pred), target, reduction="none").sum(dim=1)
    return kl / pred.shape[1] if divide_by_classes else kl

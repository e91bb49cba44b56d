"""CO2-Net's consensus-training terms, masked for padded batches and generalised to N modalities.

- :func:`masked_topk_mil`: top-k MIL cross-entropy (``k = len // r``) with the background column
  labelled present (CO2's "orig" branch) or absent (the attention-suppressed "supp" branch);
- :func:`suppress_background`: CO2's ``attn * (cas - m) + m`` with ``m`` the per-snippet minimum;
- :func:`mutual_learning`: each modality's attention regresses the stop-gradient of each other's;
- :func:`attention_norm`: sparsity, mean attention over real snippets;
- :func:`opposite`: attention and background probability pushed to be complementary.

These match CO2-Net's ``criterion`` terms on unpadded single-length batches (the faithful CO2-Net
recipe, with its unmasked batch layout, lives in ``tsl300.methods.co2net``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..models.masked import masked_mean, masked_topk_mean_ratio


def masked_topk_mil(cas: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, ratio: int,
                    background_present: bool, eps: float = 1e-4) -> torch.Tensor:
    """Per-video MIL loss (B,). ``cas`` (B, T, C+1) logits, background last; ``labels`` (B, C)."""
    pooled = masked_topk_mean_ratio(cas, mask, ratio)  # (B, C+1)
    bg = torch.full_like(labels[:, :1], 1.0 if background_present else 0.0)  # (B, 1)
    target = torch.cat([labels, bg], dim=1)  # (B, C+1), then normalised to sum 1
    target = target / (target.sum(dim=1, keepdim=True) + eps)
    return -(target * F.log_softmax(pooled, dim=1)).sum(dim=1)


def suppress_background(cas: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """``attention * (cas - m) + m`` with ``m`` the per-snippet minimum over all columns;
    ``cas`` (B, T, C+1), ``attention`` (B, T)."""
    low = cas.min(dim=-1, keepdim=True).values  # (B, T, 1)
    return attention.unsqueeze(-1) * (cas - low) + low


def mutual_learning(attentions: Sequence[torch.Tensor], mask: torch.Tensor,
                    present: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Mean over ordered pairs (i, j) of masked MSE(a_i, stopgrad(a_j)); 0 for one modality.
    Each ``attentions[i]`` is (B, T); ``mask`` (B, T).

    With two modalities this is CO2-Net's ``0.5 MSE(a_v, sg(a_f)) + 0.5 MSE(a_f, sg(a_v))``.
    ``present[i]`` (B,) bool drops videos lacking modality i from the pairs it is in.
    """
    n = len(attentions)
    if n < 2:
        return attentions[0].new_zeros(())
    total, pairs = attentions[0].new_zeros(()), 0
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            valid = mask
            if present is not None:
                valid = mask & (present[i] & present[j])[:, None]
            diff = (attentions[i] - attentions[j].detach()) ** 2
            total = total + masked_frame_mean(diff, valid)
            pairs += 1
    return total / pairs


def attention_norm(attention: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean attention (B, T) over the real snippets of the batch (CO2's sparsity term)."""
    return masked_frame_mean(attention, mask)


def opposite(attention: torch.Tensor, background: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean |1 - a - bg|`` over real snippets (CO2's guide loss).

    ``background`` (B, T) is a background probability: CO2-Net uses ``softmax(cas)[..., -1]``
    (:func:`softmax_background`); a sigmoid background channel works the same way.
    """
    return masked_frame_mean(torch.abs(1 - attention - background), mask)


def softmax_background(cas: torch.Tensor) -> torch.Tensor:
    """CO2-Net's background probability (B, T): softmax over the C+1 logits, last column."""
    return F.softmax(cas, dim=-1)[..., -1]


def masked_frame_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, T) ``x`` over real snippets of the whole batch."""
    return masked_mean(x, mask, dim=(0, 1))

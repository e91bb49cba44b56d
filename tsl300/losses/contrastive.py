"""Reverse-mapping contrastive term (TSL-Net's L_fuse, from MMIM's CPC).

Each modality's features ``x`` are predicted back from the fused features (``x_pred``); the
term is an InfoNCE over the snippets of one video, with cosine similarity, temperature 1 and
the positive pair included in the denominator, as the official code computes it.
"""
from __future__ import annotations

import torch


def reverse_mapping_infonce(x: torch.Tensor, x_pred: torch.Tensor, mask: torch.Tensor,
                            official_sign: bool = False, temperature: float = 1.0,
                            eps: float = 0.0) -> torch.Tensor:
    """Per-video InfoNCE between snippet features and their reverse-mapped predictions.

    With ``nce = mean_t [cos(x_t, p_t) - logsumexp_i cos(x_t, p_i)]`` over the video's real
    snippets (negatives never cross videos):

    - ``official_sign=False`` (default) returns ``-nce``, the InfoNCE loss to minimise (the
      paper's Eq. 1 up to its denominator);
    - ``official_sign=True`` returns ``+nce``, which the official code ADDS to the loss, so
      minimising it pushes positives down (the shipped sign bug).

    Args:
        x, x_pred: (B, T, D). mask: (B, T) bool.
        eps: added to the norms (the official code has none: an all-zero row gives NaN).
    Returns:
        (B,) one value per video.
    """
    xn = x / (x.norm(dim=-1, keepdim=True) + eps)
    pn = x_pred / (x_pred.norm(dim=-1, keepdim=True) + eps)
    sim = torch.bmm(xn, pn.transpose(1, 2)) / temperature  # (B, T, T): [t, i]
    sim = sim.masked_fill(~mask[:, None, :], float("-inf"))
    pos = (xn * pn).sum(dim=-1) / temperature
    per_snippet = torch.where(mask, pos - torch.logsumexp(sim, dim=-1), torch.zeros_like(pos))
    nce = per_snippet.sum(dim=1) / mask.sum(dim=1).clamp_min(1).to(x.dtype)
    return nce if official_sign else -nce

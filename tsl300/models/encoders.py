"""Per-modality encoders: per-snippet features (B, T, ...) -> channels-first (B, H, T).

- :class:`VectorEncoder` for vector features (I3D ``rgb`` (T, 1024), any (T, D)): input
  normalisation, a 1x1 projection and a k=3 temporal conv.
- :class:`LightMelEncoder` for the TSL-300 log-mel patch (T, 32, 60): the 32 mel frames of a
  snippet are average-pooled into ``time_groups`` groups (keeping the coarse temporal shape
  inside the snippet), normalised, projected, then the same k=3 temporal conv. It costs a few
  hundred thousand multiply-adds per snippet, against ~60 M for TSL-Net's 2D CNN (which looks
  at the previous and next snippets itself; here the temporal conv does that).

Input normalisation is a BatchNorm over the real (unpadded) snippets only, so padding does not
shift its statistics and, in eval mode, a padded batch gives the same outputs as one video.
"""
from __future__ import annotations

import torch
from torch import nn


class MaskedBatchNorm(nn.Module):
    """BatchNorm1d over the feature axis of (B, T, D), using only snippets where ``mask``."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mask`` (B, T): real snippets of videos that have this modality (a missing modality's
        zero rows must not enter the statistics). Fewer than two such rows: running statistics."""
        if self.training and int(mask.sum()) > 1:
            out = torch.zeros_like(x)
            out[mask] = self.norm(x[mask])
            return out
        flat = nn.functional.batch_norm(x.reshape(-1, x.shape[-1]), self.norm.running_mean, self.norm.running_var,
                                        self.norm.weight, self.norm.bias, False, 0.0, self.norm.eps)
        return flat.reshape(x.shape) * mask[..., None].to(x.dtype)


def standardize_per_video(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(B, T, D): z-score each channel over each video's real snippets.

    Removes per-video offsets and scales (speaker, microphone, lighting), so that what is left
    is how a snippet differs from the rest of its own video; padding stays zero and does not
    enter the statistics.
    """
    m = mask[..., None].to(x.dtype)
    count = m.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (x * m).sum(dim=1, keepdim=True) / count
    var = (((x - mean) * m) ** 2).sum(dim=1, keepdim=True) / count
    return (x - mean) * torch.rsqrt(var + eps) * m


class TemporalBlock(nn.Module):
    """(B, T, D) -> 1x1 projection -> GELU -> dropout -> k conv -> GELU, masked: (B, H, T)."""

    def __init__(self, in_dim: int, hidden: int, kernel: int = 3, dropout: float = 0.2):
        super().__init__()
        self.project = nn.Linear(in_dim, hidden)
        self.temporal = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, None, :].to(x.dtype)
        h = self.drop(self.act(self.project(x))).transpose(1, 2) * m
        return self.act(self.temporal(h)) * m


class VectorEncoder(nn.Module):
    """Temporal 1D-conv encoder for (B, T, D) vector features."""

    def __init__(self, in_dim: int, hidden: int = 256, kernel: int = 3, dropout: float = 0.2,
                 per_video: bool = False):
        super().__init__()
        self.per_video = per_video
        self.norm = MaskedBatchNorm(in_dim)
        self.block = TemporalBlock(in_dim, hidden, kernel, dropout)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.per_video:
            x = standardize_per_video(x, mask)
        return self.block(self.norm(x, mask), mask)


class LightMelEncoder(nn.Module):
    """Light encoder for (B, T, F, M) log-mel patches (TSL-300: F=32 frames, M=60 bands)."""

    def __init__(self, frames: int, bands: int, hidden: int = 256, time_groups: int = 8,
                 kernel: int = 3, dropout: float = 0.2, per_video: bool = False):
        super().__init__()
        self.per_video = per_video
        if frames % time_groups:
            raise ValueError(f"time_groups={time_groups} must divide the {frames} mel frames per snippet")
        self.time_groups = time_groups
        in_dim = time_groups * bands
        self.norm = MaskedBatchNorm(in_dim)
        self.block = TemporalBlock(in_dim, hidden, kernel, dropout)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, f, m = x.shape
        pooled = x.reshape(b, t, self.time_groups, f // self.time_groups, m).mean(dim=3).reshape(b, t, -1)
        if self.per_video:
            pooled = standardize_per_video(pooled, mask)
        return self.block(self.norm(pooled, mask), mask)


def build_encoder(shape: tuple[int, ...], hidden: int, dropout: float = 0.2, time_groups: int = 8,
                  per_video: bool = False, kernel: int = 3) -> nn.Module:
    """Encoder for a modality from its per-snippet shape: (D,) -> vector, (F, M) -> log-mel;
    ``kernel`` is the temporal convolution's width. ``per_video`` z-scores the input over each
    video first (:func:`standardize_per_video`)."""
    if len(shape) == 1:
        return VectorEncoder(shape[0], hidden, kernel=kernel, dropout=dropout, per_video=per_video)
    if len(shape) == 2:
        groups = time_groups if shape[0] % time_groups == 0 else 1
        return LightMelEncoder(shape[0], shape[1], hidden, time_groups=groups, kernel=kernel, dropout=dropout,
                               per_video=per_video)
    raise ValueError(f"no encoder for per-snippet shape {shape}: expected (D,) or (frames, bands)")

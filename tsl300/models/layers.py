"""Small reusable model pieces: sinusoidal positions, masked pooling and masked conv stacks.

Everything here is batch-aware: a padded batch (mask False beyond a video's length) gives, for
each video, exactly what that video alone would give, because padded snippets are kept at zero
between convolutions (as the zero padding of a lone video) and excluded from every pooling.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn



def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """(length, dim) float32 sinusoidal table: sin on even, cos on odd dims.

    Computed as PyTorch's float32 recipe but with correctly rounded ``exp``/``sin``/``cos`` (via
    float64, then rounded once): frequencies ``exp(float32(2i) * float32(-ln(1e4)/dim))``, angles
    the float32 product of position and frequency. This is the table TSL-Net adds to its log-mel
    input; a float64 table or a 1-ulp ``exp`` moves it by up to 6e-5 (golden README).
    """
    step = np.float32(-math.log(10000.0) / dim)
    exponents = np.arange(0, dim, 2, dtype=np.float32) * step  # float32 product
    div_term = np.exp(exponents.astype(np.float64)).astype(np.float32)
    angle = np.arange(length, dtype=np.float32)[:, None] * div_term[None, :]  # float32 product
    table = np.zeros((length, dim), dtype=np.float32)
    table[:, 0::2] = np.sin(angle.astype(np.float64)).astype(np.float32)
    table[:, 1::2] = np.cos(angle.astype(np.float64)).astype(np.float32)[:, : dim // 2]
    return torch.from_numpy(table)


class MaskedConvStack(nn.Module):
    """``nn.Sequential`` of Conv1d/activation layers on (B, C, T) that re-zeroes padded snippets
    after every convolution block, so a padded batch matches each video run alone.

    The layers live in ``self.net`` (positions as in a plain ``nn.Sequential``) so state-dict
    names are those of the equivalent Sequential.
    """

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        keep = None if mask is None else mask[:, None, :].to(x.dtype)
        for layer in self.net:
            if keep is not None and isinstance(layer, nn.Conv1d):
                x = x * keep
            x = layer(x)
        return x if keep is None else x * keep


def conv1d_stack(widths: list[int], kernel_size: int = 3, activation=nn.ReLU,
                 final_activation: bool = True, bias: bool = True) -> list[nn.Module]:
    """Layers for Conv1d(w0->w1) + act, Conv1d(w1->w2) + act, ... with 'same' padding."""
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias))
        if final_activation or i < len(widths) - 2:
            layers.append(activation())
    return layers


class GroupBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are computed per group of images.

    TSL-Net runs one video at a time and its audio CNN in 600-snippet chunks, so every
    (video, chunk) pair is its own BN batch and updates the running statistics once, in order.
    Passing ``groups`` (N,) long with ids 0..G-1 in that order reproduces this on a batch of
    videos; ``groups=None`` is plain BatchNorm2d. Eval mode always uses the running statistics.
    State-dict names are BatchNorm2d's.
    """

    def forward(self, x: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        if groups is None or not self.training:
            return super().forward(x)
        num_groups = int(groups.max().item()) + 1 if groups.numel() else 0
        channels = x.shape[1]
        per_image = x.shape[2] * x.shape[3]
        count = torch.bincount(groups, minlength=num_groups).to(x.dtype) * per_image  # (G,)
        sums = torch.zeros(num_groups, channels, dtype=x.dtype, device=x.device)
        sums.index_add_(0, groups, x.sum(dim=(2, 3)))
        mean = sums / count[:, None]
        centred = x - mean.index_select(0, groups)[:, :, None, None]
        sq = torch.zeros_like(sums).index_add_(0, groups, (centred * centred).sum(dim=(2, 3)))
        var_biased = sq / count[:, None]
        out = centred * torch.rsqrt(var_biased + self.eps).index_select(0, groups)[:, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), sq.detach(), count)
        return out

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, sq: torch.Tensor, count: torch.Tensor) -> None:
        momentum = 0.1 if self.momentum is None else self.momentum
        var_unbiased = sq / (count[:, None] - 1).clamp_min(1.0)
        for g in range(mean.shape[0]):  # one update per group, in order (G is a handful)
            self.running_mean.mul_(1 - momentum).add_(momentum * mean[g])
            self.running_var.mul_(1 - momentum).add_(momentum * var_unbiased[g])
        self.num_batches_tracked.add_(mean.shape[0])

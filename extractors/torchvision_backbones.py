"""torchvision backbones: video models per 16-frame snippet, ResNet per frame (mean per snippet).

Weights go through torchvision's weights API: ``weights=None`` (random init, tests),
``"DEFAULT"`` or an enum name such as ``"R3D_18_Weights.KINETICS400_V1"`` (torchvision's cache;
fetched only with ``download=True``), or a local state-dict file (.pth/.safetensors, the
classifier keys may be absent). The classifier is replaced by identity, so features are the
pooled penultimate layer. Preprocessing follows the weights' published transforms: resize the
short side, centre crop, scale to [0, 1], normalise with the given mean/std.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tsl300.errors import CheckpointError
from tsl300.io import VideoRequest

from .base import ClipExtractor, FrameExtractor
from .i3d import centre_crop
from .registry import register_extractor
from .spec import ExtractorSpec
from .weights import load_state_dict, sha256_of

KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Backbone:
    dim: int
    short_side: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head: str            # attribute replaced by identity


VIDEO_BACKBONES = {
    "r3d_18": Backbone(512, 128, 112, KINETICS_MEAN, KINETICS_STD, "fc"),
    "r2plus1d_18": Backbone(512, 128, 112, KINETICS_MEAN, KINETICS_STD, "fc"),
    "s3d": Backbone(1024, 256, 224, KINETICS_MEAN, KINETICS_STD, "classifier"),
    "mvit_v2_s": Backbone(768, 256, 224, (0.45, 0.45, 0.45), (0.225, 0.225, 0.225), "head"),
}
IMAGE_BACKBONES = {
    "resnet18": Backbone(512, 256, 224, IMAGENET_MEAN, IMAGENET_STD, "fc"),
    "resnet50": Backbone(2048, 256, 224, IMAGENET_MEAN, IMAGENET_STD, "fc"),
}



def build_torchvision(arch: str, weights, download: bool):
    """torchvision model ``arch`` without its classifier; returns (model, weights id)."""
    import torch
    from torch import nn
    from torchvision.models import get_model, get_model_weights

    backbone = {**VIDEO_BACKBONES, **IMAGE_BACKBONES}[arch]
    weights_id = None
    if weights is None:
        model = get_model(arch, weights=None)
    elif isinstance(weights, (str, os.PathLike)) and os.path.isfile(str(weights)):
        model = get_model(arch, weights=None)
        state = load_state_dict(weights)
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith(backbone.head + ".")]
        if missing or unexpected:
            raise CheckpointError(f"{weights}: does not fit torchvision {arch} "
                                  f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})")
        weights_id = "sha256:" + sha256_of(weights)
    else:
        enum = get_model_weights(arch)
        name = str(weights).split(".")[-1]
        chosen = enum.DEFAULT if name == "DEFAULT" else enum[name]
        if not download and not _in_torch_cache(chosen.url):
            raise CheckpointError(f"{arch} weights {chosen} are not in torch's cache; pass download=True "
                                  "(--download) or a local state-dict file")
        model = get_model(arch, weights=chosen)
        weights_id = str(chosen)
    if arch == "s3d":
        model.classifier = nn.Identity()
        model.avgpool = nn.AdaptiveAvgPool3d(1)
    else:
        setattr(model, backbone.head, nn.Identity())
    return model.eval(), weights_id


def _in_torch_cache(url: str) -> bool:
    import torch.hub
    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url)))


def _normalise(frames: np.ndarray, backbone: Backbone, crop: int) -> np.ndarray:
    x = centre_crop(frames, crop).astype(np.float32) / 255.0
    return (x - np.array(backbone.mean, np.float32)) / np.array(backbone.std, np.float32)


class _TorchvisionMixin:
    arch: str
    table: dict

    def _setup(self, weights, download, device, short_side, crop):
        self.weights, self.download, self.device = weights, download, device
        backbone = self.table[self.arch]
        self.short_side = int(short_side or backbone.short_side)
        self.crop = int(crop or backbone.crop)
        self._model = None
        self._weights_id = None

    def _load(self):
        if self._model is None:
            self._model, self._weights_id = build_torchvision(self.arch, self.weights, self.download)
            self._model.to(self.device)
        return self._model

    def video_request(self) -> VideoRequest:
        return VideoRequest(short_side=self.short_side, interpolation="BILINEAR")

    def open(self, info, fps):
        self._load()
        return super().open(info, fps)

    def spec(self) -> ExtractorSpec:
        self._load()
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(self.table[self.arch].dim,), frame_size=f"short_side={self.short_side},centre_crop={self.crop}",
            params={"arch": self.arch, "weights": self._weights_id, "mean": list(self.table[self.arch].mean),
                    "std": list(self.table[self.arch].std), "pooling": "mean over the snippet's frames"
                    if self.input == "video" and isinstance(self, FrameExtractor) else "clip"},
        )


def _make_video(arch: str):
    @register_extractor(arch)
    class TorchvisionVideo(_TorchvisionMixin, ClipExtractor):
        __doc__ = f"torchvision {arch}: one feature per 16-frame snippet (penultimate layer)."
        version = "1"
        modality = arch

        def __init__(self, weights=None, download: bool = False, device: str = "cpu",
                     short_side: int | None = None, crop: int | None = None, clip_batch: int = 4):
            self.arch, self.table, self.clip_batch = arch, VIDEO_BACKBONES, clip_batch
            self._setup(weights, download, device, short_side, crop)

        def clip_features(self, clips):
            import torch
            x = _normalise(clips, self.table[self.arch], self.crop).transpose(0, 4, 1, 2, 3)
            with torch.inference_mode():
                out = self._load()(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
            return out.reshape(len(clips), -1).float().cpu().numpy()

    TorchvisionVideo.__name__ = f"Torchvision_{arch}"
    return TorchvisionVideo


def _make_image(arch: str):
    @register_extractor(arch)
    class TorchvisionImage(_TorchvisionMixin, FrameExtractor):
        __doc__ = f"torchvision {arch} per frame, averaged over each snippet's 16 frames."
        version = "1"
        modality = arch

        def __init__(self, weights=None, download: bool = False, device: str = "cpu",
                     short_side: int | None = None, crop: int | None = None):
            self.arch, self.table = arch, IMAGE_BACKBONES
            self._setup(weights, download, device, short_side, crop)

        @property
        def frame_dim(self):
            return self.table[self.arch].dim

        def frame_features(self, frames, previous):
            import torch
            x = _normalise(frames, self.table[self.arch], self.crop).transpose(0, 3, 1, 2)
            with torch.inference_mode():
                return self._load()(torch.from_numpy(np.ascontiguousarray(x)).to(self.device)).float().cpu().numpy()

    TorchvisionImage.__name__ = f"Torchvision_{arch}"
    return TorchvisionImage


for _arch in VIDEO_BACKBONES:
    _make_video(_arch)
for _arch in IMAGE_BACKBONES:
    _make_image(_arch)

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
from .i3d import IMAGENET_MEAN, IMAGENET_STD, crop_and_normalise
from .registry import register_extractor
from .spec import ExtractorSpec
from .weights import load_state_dict, sha256_of

KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


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
    return crop_and_normalise(frames, crop, backbone.mean, backbone.std)


class _TorchvisionMixin:
    arch: str            # class attributes, set by the factories below
    table: dict
    version = "1"

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

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """The model on a normalised channels-first batch; float32 features, one row per item."""
        import torch
        with torch.inference_mode():
            out = self._load()(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        return out.reshape(len(x), -1).float().cpu().numpy()

    def video_request(self) -> VideoRequest:
        return VideoRequest(short_side=self.short_side, interpolation="BILINEAR")

    def open(self, info, fps):
        self._load()
        return super().open(info, fps)

    def spec(self) -> ExtractorSpec:
        self._load()
        backbone = self.table[self.arch]
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(backbone.dim,), frame_size=f"short_side={self.short_side},centre_crop={self.crop}",
            params={"arch": self.arch, "weights": self._weights_id, "mean": list(backbone.mean),
                    "std": list(backbone.std), "pooling": "mean over the snippet's frames"
                    if isinstance(self, FrameExtractor) else "clip"},
        )


def _make_video(name: str):
    @register_extractor(name)
    class TorchvisionVideo(_TorchvisionMixin, ClipExtractor):
        __doc__ = f"torchvision {name}: one feature per 16-frame snippet (penultimate layer)."
        arch = modality = name
        table = VIDEO_BACKBONES

        def __init__(self, weights=None, download: bool = False, device: str = "cpu",
                     short_side: int | None = None, crop: int | None = None, clip_batch: int = 4):
            self.clip_batch = clip_batch
            self._setup(weights, download, device, short_side, crop)

        def clip_features(self, clips):
            return self._forward(_normalise(clips, self.table[self.arch], self.crop).transpose(0, 4, 1, 2, 3))

    TorchvisionVideo.__name__ = f"Torchvision_{name}"
    return TorchvisionVideo


def _make_image(name: str):
    @register_extractor(name)
    class TorchvisionImage(_TorchvisionMixin, FrameExtractor):
        __doc__ = f"torchvision {name} per frame, averaged over each snippet's 16 frames."
        arch = modality = name
        table = IMAGE_BACKBONES

        def __init__(self, weights=None, download: bool = False, device: str = "cpu",
                     short_side: int | None = None, crop: int | None = None):
            self._setup(weights, download, device, short_side, crop)

        @property
        def frame_dim(self):
            return self.table[self.arch].dim

        def frame_features(self, frames, previous):
            return self._forward(_normalise(frames, self.table[self.arch], self.crop).transpose(0, 3, 1, 2))

    TorchvisionImage.__name__ = f"Torchvision_{name}"
    return TorchvisionImage


for _arch in VIDEO_BACKBONES:
    _make_video(_arch)
for _arch in IMAGE_BACKBONES:
    _make_image(_arch)

"""transformers backbones through ``from_pretrained``: CLIP vision and VideoMAE (visual),
wav2vec2, AST and CLAP (audio), one feature per snippet.

``model`` is a local folder (``save_pretrained`` output) or a hub id. Hub files are used only
from the local cache unless ``download=True``; ``HF_HUB_OFFLINE=1`` is honoured by transformers
itself. Each model's own processor does resizing/normalisation when the folder has one;
otherwise the config's image size and CLIP/ImageNet statistics are used.
"""
from __future__ import annotations

import numpy as np

from tsl300.errors import CheckpointError
from tsl300.io import VideoRequest

from .base import AudioSnippetExtractor, ClipExtractor, FrameExtractor
from .i3d import IMAGENET_MEAN, IMAGENET_STD, crop_and_normalise
from .registry import register_extractor
from .spec import ExtractorSpec

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _from_pretrained(cls, model: str, download: bool):
    try:
        return cls.from_pretrained(model, local_files_only=not download)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{model}: cannot load {cls.__name__} "
                              f"({str(exc).splitlines()[0]}); give a local folder or pass download=True") from None


def _processor(cls, model: str, download: bool):
    try:
        return cls.from_pretrained(model, local_files_only=not download)
    except (OSError, ValueError):
        return None


class _HFMixin:
    hf_model: str
    dim_attr = "hidden_size"

    def _setup(self, model: str | None, download: bool, device: str):
        if not model:
            raise CheckpointError(f"{self.name} needs model=PATH_OR_HUB_ID (a save_pretrained folder)")
        self.model_id, self.download, self.device = str(model), download, device
        self._model = None

    def _load(self):
        if self._model is None:
            self._model = self._build().eval().to(self.device)
        return self._model

    def open(self, info, fps):
        self._load()
        return super().open(info, fps)

    def _dim(self) -> int:
        return int(self._load().config.__dict__.get(self.dim_attr) or self._load().config.hidden_size)

    def spec(self) -> ExtractorSpec:
        extra = {}
        if self.input == "audio":
            self._processor()                      # the saved processor decides the rate
            extra["sample_rate"] = self.sample_rate
        else:
            extra["frame_size"] = f"short_side={self.image_size},centre_crop={self.image_size}"
        return ExtractorSpec(name=self.name, version=self.version, modality=self.modality,
                             input=self.input, shape=(self._dim(),),
                             params={"model": self.model_id, "transformers_class": self.hf_model}, **extra)


@register_extractor("clip_vision")
class CLIPVision(_HFMixin, FrameExtractor):
    """CLIP image embeddings per frame (projection output), averaged per snippet."""

    version, modality, hf_model = "1", "clip_vision", "CLIPVisionModelWithProjection"

    def __init__(self, model: str | None = None, download: bool = False, device: str = "cpu"):
        self._setup(model, download, device)

    def _build(self):
        from transformers import CLIPVisionModelWithProjection
        return _from_pretrained(CLIPVisionModelWithProjection, self.model_id, self.download)

    def _dim(self):
        return int(self._load().config.projection_dim)

    @property
    def image_size(self):
        return int(self._load().config.image_size)

    @property
    def frame_dim(self):
        return self._dim()

    def video_request(self):
        return VideoRequest(short_side=self.image_size, interpolation="BICUBIC")

    def frame_features(self, frames, previous):
        import torch
        x = crop_and_normalise(frames, self.image_size, CLIP_MEAN, CLIP_STD).transpose(0, 3, 1, 2)
        with torch.inference_mode():
            out = self._load()(pixel_values=torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        return out.image_embeds.float().cpu().numpy()


@register_extractor("videomae")
class VideoMAE(_HFMixin, ClipExtractor):
    """VideoMAE encoder on each 16-frame snippet, mean of the last hidden states."""

    version, modality, hf_model = "1", "videomae", "VideoMAEModel"

    def __init__(self, model: str | None = None, download: bool = False, device: str = "cpu",
                 clip_batch: int = 2):
        self._setup(model, download, device)
        self.clip_batch = clip_batch

    def _build(self):
        from transformers import VideoMAEModel
        return _from_pretrained(VideoMAEModel, self.model_id, self.download)

    @property
    def image_size(self):
        return int(self._load().config.image_size)

    def video_request(self):
        return VideoRequest(short_side=self.image_size, interpolation="BILINEAR")

    def clip_features(self, clips):
        import torch
        frames_needed = int(self._load().config.num_frames)
        index = np.linspace(0, clips.shape[1] - 1, frames_needed).round().astype(int)
        x = crop_and_normalise(clips[:, index], self.image_size, IMAGENET_MEAN, IMAGENET_STD)
        x = x.transpose(0, 1, 4, 2, 3)                      # (B, T, C, H, W)
        with torch.inference_mode():
            out = self._load()(pixel_values=torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        return out.last_hidden_state.mean(dim=1).float().cpu().numpy()


class _HFAudio(_HFMixin, AudioSnippetExtractor):
    """Audio model on each snippet's samples through its own feature extractor."""

    processor_class = ""

    def __init__(self, model: str | None = None, download: bool = False, device: str = "cpu",
                 snippet_batch: int = 16):
        self._setup(model, download, device)
        self.snippet_batch = snippet_batch
        self._proc = None

    def _processor(self):
        if self._proc is None:
            import transformers
            self._proc = _processor(getattr(transformers, self.processor_class), self.model_id, self.download)
            if self._proc is not None:
                self.sample_rate = int(self._proc.sampling_rate)
        return self._proc

    def request(self, info, fps):
        self._processor()
        return super().request(info, fps)

    def _inputs(self, windows):
        proc = self._processor()
        if proc is None:
            raise CheckpointError(f"{self.model_id}: no {self.processor_class} saved with the model")
        return proc([w.astype(np.float32) for w in windows], sampling_rate=self.sample_rate,
                    return_tensors="pt", padding=True)


@register_extractor("wav2vec2")
class Wav2Vec2(_HFAudio):
    """wav2vec 2.0 encoder, mean of the last hidden states over each snippet (16 kHz)."""

    version, modality, hf_model, processor_class = "1", "wav2vec2", "Wav2Vec2Model", "Wav2Vec2FeatureExtractor"

    def _build(self):
        from transformers import Wav2Vec2Model
        return _from_pretrained(Wav2Vec2Model, self.model_id, self.download)

    def snippet_features(self, windows):
        import torch
        inputs = self._inputs(windows)
        with torch.inference_mode():
            out = self._load()(input_values=inputs["input_values"].to(self.device))
        return out.last_hidden_state.mean(dim=1).float().cpu().numpy()


@register_extractor("ast")
class AST(_HFAudio):
    """Audio Spectrogram Transformer pooled output per snippet (16 kHz, padded filterbank)."""

    version, modality, hf_model, processor_class = "1", "ast", "ASTModel", "ASTFeatureExtractor"

    def _build(self):
        from transformers import ASTModel
        return _from_pretrained(ASTModel, self.model_id, self.download)

    def snippet_features(self, windows):
        import torch
        inputs = self._inputs(windows)
        with torch.inference_mode():
            out = self._load()(input_values=inputs["input_values"].to(self.device))
        return out.pooler_output.float().cpu().numpy()


@register_extractor("clap")
class CLAP(_HFAudio):
    """CLAP audio embeddings (projection) per snippet (48 kHz)."""

    version, modality, hf_model, processor_class = "1", "clap", "ClapModel", "ClapFeatureExtractor"
    sample_rate = 48000

    def _build(self):
        from transformers import ClapModel
        return _from_pretrained(ClapModel, self.model_id, self.download)

    def _dim(self):
        return int(self._load().config.projection_dim)

    def snippet_features(self, windows):
        import torch
        inputs = self._inputs(windows)
        with torch.inference_mode():
            feats = self._load().get_audio_features(input_features=inputs["input_features"].to(self.device))
        if not isinstance(feats, torch.Tensor):
            feats = getattr(feats, "pooler_output", feats[0])
        return feats.float().cpu().numpy()

"""``tsl300.localize(path)`` and ``tsl300.load_model(name_or_path)``: video file in, segments out.

The path a video takes: the model's extractors run in one streamed decoding pass
(:mod:`tsl300.featurize`, the same code that builds training features), the model scores every
snippet, the shared post-processing (:func:`tsl300.postprocess.predict_segments`) turns
scores into segments in seconds. A long video is cut into overlapping windows of
``window`` snippets; their segments are merged by NMS and their scores averaged where windows
overlap, so memory stays bounded by the window, not the video.

>>> import tsl300                                                    # doctest: +SKIP
>>> result = tsl300.localize("talk.mp4")                             # doctest: +SKIP
>>> model = tsl300.load_model("default", device="cpu")               # doctest: +SKIP
>>> results = model.localize(["a.mp4", "b.mkv"])                     # doctest: +SKIP
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .config_bounds import check_bounds
from .errors import CheckpointError, MediaError
from .types import CLASS_CODES, LocalizationResult, LocalizedSegment, ResultMetadata

MODELS_DIR = Path(__file__).resolve().parent / "resources" / "models"
"""Shipped models: ``MODELS_DIR/<name>/model.safetensors`` + ``model.json``."""
DEFAULT_MODEL = "default"
DEFAULT_WINDOW = 2048
"""Snippets per inference window (about 18 min at 30 fps); longer videos are windowed."""
DEFAULT_OVERLAP = 256
"""Snippets shared by consecutive windows."""
WINDOW_NMS_IOU = 0.5


def available_models() -> list[str]:
    """Names of the models shipped in the package."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "model.safetensors").is_file())


def resolve_model_path(name_or_path: str | os.PathLike | None) -> tuple[str, Path]:
    """(display name, checkpoint path) for a shipped model name, a checkpoint file or a run folder."""
    from .engine.checkpoint import checkpoint_paths, resolve_checkpoint

    name = DEFAULT_MODEL if name_or_path is None else name_or_path
    if isinstance(name, str) and name in available_models():
        return name, MODELS_DIR / name / "model.safetensors"
    path = Path(name)
    if not path.exists() and not checkpoint_paths(path)[0].exists():
        shipped = ", ".join(available_models()) or "none"
        raise CheckpointError(f"{name}: no such model; give a checkpoint path or a shipped model "
                              f"name (shipped: {shipped})")
    return path.stem if path.is_file() else path.name, resolve_checkpoint(path)


def pick_device(device: str | torch.device | None) -> torch.device:
    """``None``: CUDA when present, else CPU. An explicit CUDA device that is absent is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available here; use 'cpu'")
    return device


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_threshold(threshold: float | None) -> None:
    """ValueError unless ``threshold`` is None or a finite score in [0, 1] (NaN would reach the JSON)."""
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be a finite score in [0, 1], got {threshold!r}")


def plan_windows(n_snippets: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, length)`` windows covering ``[0, n_snippets)``; the last one ends at the end.

    >>> plan_windows(10, 4, 1)
    [(0, 4), (3, 4), (6, 4)]
    >>> plan_windows(3, 4, 1)
    [(0, 3)]
    """
    if window < 1 or not 0 <= overlap < window:
        raise ValueError(f"need window >= 1 and 0 <= overlap < window, got {window}, {overlap}")
    if n_snippets <= window:
        return [(0, n_snippets)]
    stride = window - overlap
    starts = list(range(0, n_snippets - window, stride)) + [n_snippets - window]
    return [(s, window) for s in dict.fromkeys(starts)]


class Localizer:
    """A loaded model plus its extractors; ``.localize()`` runs videos through both."""

    def __init__(self, method: torch.nn.Module, meta: dict, weights: Path, name: str,
                 device: torch.device, download: bool = False):
        from .methods.registry import ModelSpec

        self.method = method.to(device).eval()
        self.meta = meta
        self.weights = weights
        self.name = name
        self.device = device
        self.download = download  # the user's flag: may the model's extractors fetch weights?
        self.spec = ModelSpec.from_json(meta["spec"])
        recipe = meta.get("recipe", {})
        self.modalities = list(recipe.get("data", {}).get("modalities", self.spec.modality_shapes))
        self.postprocess = dict(recipe.get("postprocess", {}))
        self.sha256 = file_sha256(weights)
        for m, extractor in self.spec.extractor_specs.items():  # before any video is decoded
            params = extractor.get("params") if isinstance(extractor, dict) else None
            check_bounds(params if isinstance(params, dict) else {}, f"{weights}",
                         f"spec.extractor_specs.{m}.params")
        if tuple(self.spec.classes) != CLASS_CODES:
            raise CheckpointError(f"{weights}: localize needs a model with classes {CLASS_CODES}, "
                                  f"this one has {tuple(self.spec.classes)}")

    def __repr__(self) -> str:
        return (f"Localizer(name={self.name!r}, method={self.meta.get('method')!r}, "
                f"modalities={self.modalities}, device={str(self.device)!r})")

    # ----------------------------------------------------------------- public
    def localize(self, path_or_paths: str | os.PathLike | Sequence[str | os.PathLike], *,
                 threshold: float | None = None, window: int = DEFAULT_WINDOW,
                 overlap: int = DEFAULT_OVERLAP, progress: bool = False,
                 all_proposals: bool = False, transcripts: str | os.PathLike | None = None
                 ) -> LocalizationResult | list[LocalizationResult]:
        """Localize one video (returns a result) or a list of videos (returns a list).

        ``threshold`` drops segments scoring below it; ``window``/``overlap`` (snippets) bound
        memory on long videos; ``progress`` shows a decoding progress bar. By default segments
        of one class do not overlap (the best-scoring one of overlapping proposals is kept), which
        is what a reader wants; ``all_proposals=True`` returns the full ranked proposal list of
        the benchmark protocol (many overlapping segments; what average mAP is computed on).
        ``transcripts``: a folder of ``STEM.{json,srt,vtt}`` files for a model that reads text
        (looked in before subtitles next to the video or inside it).
        """
        check_threshold(threshold)
        options = dict(threshold=threshold, window=window, overlap=overlap, all_proposals=all_proposals)
        inputs = {"transcripts": str(transcripts)} if transcripts is not None else None
        if isinstance(path_or_paths, (str, os.PathLike)):
            return self._localize_one(Path(path_or_paths), progress, inputs, **options)
        return [self._localize_one(Path(p), progress, inputs, **options) for p in path_or_paths]

    def localize_features(self, video, *, threshold: float | None = None, window: int = DEFAULT_WINDOW,
                          overlap: int = DEFAULT_OVERLAP, source: str | None = None,
                          all_proposals: bool = False) -> LocalizationResult:
        """Localize a :class:`~tsl300.data.types.Video` whose features are already computed."""
        check_threshold(threshold)
        scores, segments, n_windows = self._run(video, window, overlap)
        if threshold is not None:
            segments = [s for s in segments if s.score >= threshold]
        if not all_proposals:
            segments = merge_window_segments(segments, NO_OVERLAP_IOU)
        duration = float(video.duration if video.duration is not None else
                         video.num_snippets * self.spec_snippet_frames / video.fps)
        audio_names = {n for n, s in self.spec.extractor_specs.items() if s.get("input") == "audio"}
        text_names = {n for n, s in self.spec.extractor_specs.items() if s.get("input") == "text"}
        meta = ResultMetadata(
            duration=duration, fps=float(video.fps), model_name=self.name, model_sha256=self.sha256,
            extractors=[dict(self.spec.extractor_specs.get(m, {})) for m in self.modalities],
            package_version=_version(), audio_missing=bool(audio_names & set(video.missing)),
            text_missing=bool(text_names & set(video.missing)),
            missing_modalities=sorted(set(video.missing) & set(self.modalities)),
            snippet_frames=self.spec_snippet_frames, device=str(self.device), windows=n_windows,
            threshold=threshold, all_proposals=all_proposals)
        segs = [LocalizedSegment(max(0.0, s.start), min(s.end, duration), s.label, s.score)
                for s in segments if min(s.end, duration) > max(0.0, s.start)]
        return LocalizationResult(source or video.vid, segs, scores, meta)

    @property
    def spec_snippet_frames(self) -> int:
        from .timegrid import SNIPPET_FRAMES

        frames = {int(s.get("snippet_frames", SNIPPET_FRAMES)) for s in self.spec.extractor_specs.values()}
        return frames.pop() if len(frames) == 1 else SNIPPET_FRAMES

    # ---------------------------------------------------------------- helpers
    def _localize_one(self, path: Path, progress: bool, inputs: dict | None = None, **options) -> LocalizationResult:
        from .featurize import featurize

        if not path.is_file():
            raise MediaError(f"{path}: no such file")
        missing = [m for m in self.modalities if m not in self.spec.extractor_specs]
        if missing:  # e.g. a model trained on features computed elsewhere (TSL-300's, synthetic)
            raise CheckpointError(f"{self.weights}: no extractor spec for modality {missing[0]!r} in the "
                                  "sidecar, so features cannot be computed from a video; "
                                  "use localize_features() with precomputed features")
        specs = {m: self.spec.extractor_specs[m] for m in self.modalities}
        video = featurize(path, specs, progress=progress, inputs=inputs, download=self.download)
        return self.localize_features(video, source=str(path), **options)

    @torch.no_grad()
    def _run(self, video, window: int, overlap: int):
        """Per-snippet scores (T, 2) and merged segments of ``video``, window by window."""
        from .data.types import Segment
        from .engine.batching import collate, crop_video
        from .postprocess import PostprocessParams, predict_segments
        from .timegrid import snippet_start

        T = video.num_snippets
        windows = plan_windows(T, window, overlap)
        total = np.zeros((T, len(CLASS_CODES)), dtype=np.float64)
        count = np.zeros((T, 1), dtype=np.float64)
        found: list[Segment] = []
        params = PostprocessParams.from_dict(self.postprocess)
        for start, length in windows:
            part = crop_video(video, start, length) if len(windows) > 1 else video
            batch = collate([part], self.modalities, self.spec.classes, self.device)
            scores = self.method.scores(self.method(batch), batch)
            cas = scores["cas"][0, :length].float().cpu().numpy()
            total[start:start + length] += cas
            count[start:start + length] += 1
            offset = float(snippet_start(start, video.fps, self.spec_snippet_frames))
            for seg in predict_segments(scores, batch, params).get(part.vid, []):
                found.append(replace(seg, start=seg.start + offset, end=seg.end + offset))
        if len(windows) > 1:
            found = merge_window_segments(found, WINDOW_NMS_IOU)
        return (total / np.maximum(count, 1)).astype(np.float32), found, len(windows)


NO_OVERLAP_IOU = 1e-9
"""NMS threshold that removes any same-class overlap (``hard_nms`` suppresses IoU >= it)."""


def merge_window_segments(segments, iou: float):
    """Per-class NMS over segments found in overlapping windows (duplicates in the overlaps)."""
    from .postprocess import hard_nms

    kept = []
    for label in sorted({s.label for s in segments}):
        same = [s for s in segments if s.label == label]
        times = np.array([[s.start, s.end] for s in same], dtype=np.float64)
        scores = np.array([s.score for s in same], dtype=np.float64)
        kept += [same[i] for i in hard_nms(times, scores, iou, plus_one=False)]
    return kept


def _version() -> str:
    from . import __version__

    return __version__


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str | torch.device | None = None,
               download: bool = False) -> Localizer:
    """Load a shipped model (by name, default ``"default"``) or a checkpoint / run folder
    (through :func:`tsl300.engine.loader.load_trained`, as ``tsl300 test`` does).

    ``download=True`` lets the model's extractors download weights its sidecar names by URL
    (only with their sha256; the URL is printed); without it nothing is ever downloaded."""
    from .engine.loader import load_trained

    name, given = resolve_model_path(name_or_path)
    device = pick_device(device)
    trained = load_trained(given, device)
    return Localizer(trained.method, trained.meta, trained.weights, name, device, download=download)


@functools.lru_cache(maxsize=2)
def _cached_model(name_or_path: str | None, device: str | None, download: bool = False) -> Localizer:
    return load_model(name_or_path, device=device, download=download)


def localize(path_or_paths, *, model: str | os.PathLike | Localizer | None = None,
             device: str | torch.device | None = None, download: bool = False, **kwargs: Any):
    """Localize sentiment in one video (a :class:`LocalizationResult`) or several (a list).

    ``model``: a shipped model name, a checkpoint path, or a :class:`Localizer` from
    :func:`load_model` (default: the shipped ``"default"`` model, loaded once and cached).
    ``device``: ``None`` picks CUDA when present, else CPU (a given :class:`Localizer` keeps the
    device it was loaded on). ``download``: as in :func:`load_model`. Other keywords go to
    :meth:`Localizer.localize` (``threshold``, ``window``, ``overlap``, ``progress``,
    ``all_proposals``).
    """
    if isinstance(model, Localizer):
        localizer = model
    else:
        key = None if model is None else str(model)
        localizer = _cached_model(key, None if device is None else str(device), bool(download))
    return localizer.localize(path_or_paths, **kwargs)

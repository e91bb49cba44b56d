"""Batched inference shared by every method: scores -> segments -> metrics / results JSON.

The method gives per-snippet scores (``Method.scores``); the shared post-processing
(``tsl300.postprocess.predict_segments``) turns them into segments in seconds; the evaluator
(``tsl300.eval``) scores them against the videos' ground truth.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.types import Segment, Video
from ..postprocess import results_dict, write_results_json
from .batching import collate, sequential_batches


@torch.no_grad()
def evaluation_pass(method, videos: Sequence[Video], modalities: Sequence[str], classes: Sequence[str],
                    batch_size: int = 16, device: str | torch.device = "cpu"
                    ) -> Iterator[tuple[list[Video], dict[str, Any], dict[str, torch.Tensor]]]:
    """``(videos, batch, outputs)`` per batch of ``videos`` (similar lengths together), the method
    in eval mode without gradients; its training mode comes back when the pass ends.

    The one pass that inference, the validation loss and the methods' own passes over the
    training videos (LACP's search, SF-Net's expansion, RefineLoc's refinement) share.
    """
    was_training = method.training
    method.eval()
    try:
        for group in sequential_batches(videos, batch_size):
            batch = collate(group, modalities, classes, device)
            yield group, batch, method(batch)
    finally:
        method.train(was_training)


def predict(method, videos: Sequence[Video], modalities: Sequence[str], classes: Sequence[str],
            postprocess: Mapping[str, Any], batch_size: int = 16, device: str | torch.device = "cpu"
            ) -> dict[str, list[Segment]]:
    """Segments (seconds, class names, scores) for every video, in eval mode."""
    from ..postprocess import PostprocessParams, predict_segments

    params = PostprocessParams.from_dict(postprocess)
    out: dict[str, list[Segment]] = {}
    with torch.no_grad():
        for _, batch, outputs in evaluation_pass(method, videos, modalities, classes, batch_size, device):
            own = method.segments(outputs, batch, params) if hasattr(method, "segments") else None
            out.update(own if own is not None else predict_segments(method.scores(outputs, batch), batch, params))
    for video in videos:  # a video with no proposal still appears (empty list)
        out.setdefault(video.vid, [])
    return out


def evaluate_predictions(videos: Sequence[Video], predictions: Mapping[str, list[Segment]],
                         tiou_thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """Official TSL-300 metrics of ``predictions`` on ``videos``' ground-truth segments."""
    from ..eval import evaluate_segments

    return evaluate_segments(list(videos), predictions, tiou_thresholds)


def evaluate_method(method, videos: Sequence[Video], modalities: Sequence[str], classes: Sequence[str],
                    postprocess: Mapping[str, Any], batch_size: int = 16,
                    device: str | torch.device = "cpu") -> dict[str, Any]:
    """Predict and evaluate; returns the evaluator's dict (``average_mAP`` etc.)."""
    predictions = predict(method, videos, modalities, classes, postprocess, batch_size, device)
    return evaluate_predictions(videos, predictions)


@torch.no_grad()
def validation_loss(method, videos: Sequence[Video], modalities: Sequence[str], classes: Sequence[str],
                    batch_size: int = 16, device: str | torch.device = "cpu") -> float:
    """Mean training loss over ``videos`` in eval mode (selection metric without ground truth)."""
    total, count = 0.0, 0
    for group, batch, outputs in evaluation_pass(method, videos, modalities, classes, batch_size, device):
        loss, _ = method.compute_loss(outputs, batch, step=-1)
        total += float(loss) * len(group)
        count += len(group)
    return total / max(count, 1)


def results_json(predictions: Mapping[str, list[Segment]], extra: Mapping[str, Any] | None = None) -> dict:
    """ActivityNet results dict (what ``tsl300 eval`` and the official evaluator read)."""
    return results_dict(predictions, external_data=extra)


def write_results(path: str | Path, predictions: Mapping[str, list[Segment]],
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write the results JSON atomically (the shared :func:`~tsl300.postprocess.write_results_json`)."""
    return write_results_json(predictions, path, external_data=extra)

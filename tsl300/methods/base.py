"""The contract between the trainer and a method (TSL-Net, the flagship, each baseline).

A method is an ``nn.Module`` that turns a padded batch into outputs, outputs into a loss, and
outputs into per-snippet scores for the shared post-processing. Only what differs per method
lives in its module; batching, optimisation, checkpoints, proposals, NMS and evaluation are
shared (``tsl300.engine``, ``tsl300.postprocess``, ``tsl300.eval``).

The batch (built by ``tsl300.engine.batching``) is a dict:

- ``features``: modality -> float tensor (B, T, ...) zero-padded to the longest video;
- ``mask``: bool (B, T), True on real snippets;
- ``modality_mask``: modality -> bool (B,), False where a video lacks that modality;
- ``lengths``: long (B,);
- ``points``: list of B int64 arrays (K, 2) ``[snippet, class_index]``;
- ``point_frames``: list of B int64 arrays (K,);
- ``video_labels``: float (B, C) multi-hot (from points in training, from GT at test);
- ``label_distribution``: float (B, C) per-class point counts normalised (0 where no points);
- ``vids``, ``fps``: lists of B ids and frame rates.
- ``segments``: list of B float64 arrays (S, 3) ``[start_s, end_s, class_index]`` of the
  ground truth (empty where a video has none).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class NoOptions:
    """``ModelConfig``/``LossConfig`` of a method without options (its recipe section stays empty)."""


class Method(nn.Module):
    """Base class. Subclasses are registered with ``@register_method(name)``, set ``supervision``
    and their ``ModelConfig``/``LossConfig`` dataclasses, and implement the three hooks; the
    registry builds them as ``cls(model_config, loss_config, spec)``."""

    name: str = "base"
    ModelConfig: type = NoOptions    # the recipe's ``model:`` section
    LossConfig: type = NoOptions     # the recipe's ``loss:`` section
    supervision: str = "point"  # 'point' | 'video' | 'background-click' | 'full'

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def compute_loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any],
                     step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss to minimise and a dict of named terms for logging."""
        raise NotImplementedError

    def scores(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Inference scores: ``cas`` (B, T, C) class scores in [0, 1], ``video_scores`` (B, C),
        optionally ``actionness`` (B, T) class-agnostic foreground score."""
        raise NotImplementedError

    def segments(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any], params: Any):
        """Optional inference variant: ``{vid: [Segment]}`` from the method's own detection rule
        (RefineLoc), or None to use the shared post-processing on :meth:`scores` (default)."""
        return None

    def training_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond the weights, the optimizer and the torch generator:
        state a method keeps between steps (pseudo labels, numpy generators, counters), as JSON
        values and numpy arrays with string keys. Saved in every resumable checkpoint."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned (``{}``: nothing was saved)."""

    def on_step_end(self, step: int, context: "TrainingContext") -> None:
        """Hook after each optimizer step, for methods with a schedule of their own (LACP's
        search, SF-Net's expansion, RefineLoc's rounds); ``step`` counts from 0."""


@dataclass(frozen=True)
class TrainingContext:
    """What :meth:`Method.on_step_end` sees of training: never the trainer itself.

    ``predict(videos)`` runs the method over ``videos`` in eval mode without gradients and
    yields ``(videos of the batch, batch, outputs)`` per batch (batches of similar lengths, the
    recipe's batch size); the method's training mode comes back when the pass ends.
    """

    videos: Sequence[Any]            # the training videos (a validation share held out)
    total_steps: int                 # the recipe's schedule.steps
    predict: Callable[[Sequence[Any]], Iterator[tuple[list[Any], dict[str, Any], dict[str, torch.Tensor]]]]
    reset_optimizer: Callable[[], None]  # forget the optimizer's moments (after re-initialised weights)


def numpy_generator_state(rng: np.random.RandomState) -> dict[str, Any]:
    """A legacy numpy generator's full state, for :meth:`Method.training_state`."""
    kind, keys, pos, has_gauss, cached = rng.get_state()
    return {"kind": kind, "keys": keys, "pos": int(pos), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached)}


def restore_numpy_generator(rng: np.random.RandomState, state: dict[str, Any]) -> None:
    """Put ``rng`` back where :func:`numpy_generator_state` found it."""
    rng.set_state((state["kind"], np.asarray(state["keys"], dtype=np.uint32), int(state["pos"]),
                   int(state["has_gauss"]), float(state["cached_gaussian"])))

"""A sidecar's sizes checked against its weights before anything is allocated.

The recipe and spec in ``model.json`` say how big the method is (``fusion_hidden``, modality
widths ...); a hostile or careless sidecar can ask for gigabytes (``fusion_hidden: 400000`` in
a 3 MB checkpoint). The method is first built on PyTorch's ``meta`` device (shapes, no
memory), every parameter and buffer is compared with the tensors in the weights file, and only
a model that fits is built for real. Numbers are already within
:mod:`tsl300.config_bounds` (the recipe parser checks them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from ..errors import CheckpointError
from ..methods.registry import ModelSpec, build_method

MAX_MODALITY_WIDTH = 1 << 20
"""Widest per-snippet feature a sidecar's ``modality_shapes`` may declare (elements)."""


def check_spec_sizes(spec: ModelSpec, weights: Path) -> None:
    """CheckpointError when a modality shape in the sidecar is empty, zero or absurd."""
    for modality, shape in spec.modality_shapes.items():
        size = 1
        for dim in shape:
            size *= dim
        if not shape or min(shape) < 1 or size > MAX_MODALITY_WIDTH:
            raise CheckpointError(f"{weights}: sidecar field 'spec.modality_shapes.{modality}' = {list(shape)} "
                                  f"is not a sane feature shape (1 to {MAX_MODALITY_WIDTH} values per snippet)")


def check_sidecar_fits(recipe, spec: ModelSpec, state: Mapping[str, torch.Tensor], weights: Path) -> None:
    """CheckpointError naming the first tensor whose shape the sidecar gets wrong, decided
    without allocating the method (built on the ``meta`` device)."""
    check_spec_sizes(spec, weights)
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in build_method(recipe, spec).state_dict().items()}
    except (RuntimeError, NotImplementedError):
        # a (plugin) method whose constructor computes with tensor values cannot be built on the
        # meta device; its sizes are still within config_bounds, and the strict load checks shapes
        return
    stored = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(shapes) - set(stored))
    unexpected = sorted(set(stored) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(f"{weights}: weights do not fit method {recipe.method!r} of its sidecar: "
                              f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for key, shape in shapes.items():
        if stored[key] != shape:
            raise CheckpointError(f"{weights}: the sidecar's recipe/spec make {key!r} {list(shape)} but the "
                                  f"weights hold {list(stored[key])} (a size in model.json's recipe "
                                  f"'model' section or spec.modality_shapes is wrong)")

"""The one way a trained model is loaded: checkpoint file or run folder -> a built method.

``tsl300.load_model`` (and so ``tsl300 localize``), ``tsl300 test``, ``tsl300.test`` and the
tests all come through :func:`load_trained`, so a model that one of them can load, all can.
The method is rebuilt from the sidecar's recipe and spec with the registry's one constructor
(:func:`tsl300.methods.registry.build_method`), then the weights are loaded strictly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..errors import CheckpointError
from ..methods.registry import ModelSpec, build_method
from ..recipes import Recipe, recipe_from_dict
from .checkpoint import load_checkpoint, resolve_checkpoint
from .sidecar import check_sidecar_fits


class TrainedModel(NamedTuple):
    """A loaded model: the method (eval mode, on the device), what it was built from, its file."""

    method: torch.nn.Module
    recipe: Recipe
    spec: ModelSpec
    meta: dict[str, Any]
    weights: Path


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Load a run folder (its selected ``model.safetensors``) or a checkpoint file.

    CheckpointError when the sidecar is not a tsl300 model's or the weights do not fit the
    method its recipe builds; RecipeError (naming the file) when the stored recipe is invalid.
    """
    weights = resolve_checkpoint(path)
    ckpt = load_checkpoint(weights)
    try:
        recipe = recipe_from_dict(dict(ckpt.meta["recipe"]), source=f"{weights} (stored recipe)")
        spec = ModelSpec.from_json(ckpt.meta["spec"])
    except KeyError as exc:
        raise CheckpointError(f"{weights}: sidecar lacks {exc.args[0]!r} (not a trained tsl300 model)") from None
    if ckpt.meta.get("method", recipe.method) != recipe.method:
        raise CheckpointError(f"{weights}: sidecar field 'method' is {ckpt.meta['method']!r} but its "
                              f"recipe's method is {recipe.method!r}; which one trained these weights?")
    check_sidecar_fits(recipe, spec, ckpt.state_dict, weights)  # before allocating anything
    method = build_method(recipe, spec)
    try:
        method.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not fit method {recipe.method!r} of its recipe: "
                              f"{str(exc).splitlines()[0]}") from None
    return TrainedModel(method.to(device).eval(), recipe, spec, ckpt.meta, weights)

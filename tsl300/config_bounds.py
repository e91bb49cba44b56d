"""The one table of sane ranges for numbers in recipes, sidecars and extractor options.

A recipe, a sidecar or an extractor option from a stranger can ask for a negative learning-rate
floor, a dropout of 2 or a 400000-wide layer; each is refused when it is read (a RecipeError
naming the file and the field), before anything trains or allocates. Fields are matched by
name (``fnmatch`` patterns), so every method's ``model``/``loss`` section gets the same rules.
A size whose default is 0 (SF-Net's ``hidden``, CO2-Net's ``embed_dim``: "0 = the input
width") may also be 0.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import RecipeError

MAX_WIDTH = 16384
"""Widest layer a recipe or sidecar may ask for (the shipped methods use at most 2048)."""
MAX_STEPS = 10 ** 8
MAX_SNIPPETS = 10 ** 6
MAX_FRAME_SIDE = 1024
"""Largest frame side (``short_side``, ``crop``) an extractor may resize to (backbones use 112-256)."""


@dataclass(frozen=True)
class Bound:
    """``low <= value <= high`` (``<`` where open), always finite."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        parts = []
        if self.low != -math.inf:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high != math.inf:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return "a finite number" + (" " + " and ".join(parts) if parts else "")


FIELD_BOUNDS: dict[str, Bound] = {
    # optimizer / schedule (recipe sections ``optimizer``, ``schedule``)
    "weight_decay": Bound(0, 1),
    "momentum": Bound(0, 1),
    "betas": Bound(0, 1, high_open=True),
    "grad_clip": Bound(0, 1e6, low_open=True),
    "min_lr_ratio": Bound(0, 1),
    "steps": Bound(1, MAX_STEPS),
    "warmup_steps": Bound(0, MAX_STEPS),
    "eval_every": Bound(0, MAX_STEPS),
    "log_every": Bound(0, MAX_STEPS),
    "checkpoint_every": Bound(0, MAX_STEPS),
    "batch_size": Bound(1, 65536),
    # data
    "max_snippets": Bound(1, MAX_SNIPPETS),
    "val_fraction": Bound(0, 1, high_open=True),
    # model sections of every method
    "*dropout": Bound(0, 1, high_open=True),
    "hidden": Bound(1, MAX_WIDTH),
    "*_hidden": Bound(1, MAX_WIDTH),
    "*_dim": Bound(1, MAX_WIDTH),
    "*_groups": Bound(1, 1024),
    "topk_ratio": Bound(0, 1e6, low_open=True),
    "num_layers": Bound(1, 128),
    "max_positions": Bound(1, MAX_SNIPPETS),
    "max_seqlen": Bound(1, MAX_SNIPPETS),
    # extractor options (sidecars' extractor specs, ``tsl300 extract --set``)
    "short_side": Bound(8, MAX_FRAME_SIDE),
    "crop": Bound(8, MAX_FRAME_SIDE),
    "clip_batch": Bound(1, 1024),
}
"""Field name pattern -> allowed range; the first matching pattern applies."""

FPS_BOUND = Bound(1.0, 1000.0)
"""Frames per second of a video (``fps_dict.json``): a snippet is 16 frames, so 5e-324 fps would
be snippets of 1e300 seconds and 1e6 fps snippets of microseconds."""


def bound_for(name: str) -> Bound | None:
    for pattern, bound in FIELD_BOUNDS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return bound
    return None


def check_bounds(values: Mapping[str, Any], where: str, prefix: str = "",
                 defaults: Mapping[str, Any] | None = None) -> None:
    """RecipeError naming ``where`` and the field when a number in ``values`` is out of range.

    Non-numbers are left to the type checks; ``None`` means "unset"; lists and tuples are checked
    element by element; a value equal to a default of 0 is allowed (0 then means "automatic").
    """
    defaults = defaults or {}
    for key, value in values.items():
        bound = bound_for(str(key))
        if bound is None or value is None:
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if item == 0 and defaults.get(key) == 0 and not isinstance(defaults.get(key), bool):
                continue
            if not bound.holds(float(item)):
                raise RecipeError(f"{where}: '{path}' must be {bound.describe()}, got {value!r}")

"""Extractor registry: ``@register_extractor`` adds one; ``get_extractor(name, **params)`` builds it.

Modules in this package are imported on first lookup, so a new modality is one new module with
a registered class, never an edit here; an installed package can add one through the
``tsl300.extractors`` entry-point group (:mod:`tsl300.registry_util`). Named sets (``default``, ``tsl300``) expand to lists.
"""
from __future__ import annotations

import inspect

from tsl300.config_bounds import check_bounds
from tsl300.registry_util import Registry

EXTRACTOR_SETS: dict[str, tuple[str, ...]] = {
    "default": ("visual_stats", "audio_prosody"),
    "tsl300": ("i3d_rgb", "logmel_tsl300"),
}
"""Named extractor sets: ``default`` needs no downloaded weights; ``tsl300`` is the benchmark's."""

_EXTRACTORS = Registry("extractor", __package__,
                       skip={"base", "spec", "registry", "pipeline", "store", "weights", "i3d_net"},
                       entry_point_group="tsl300.extractors")

register_extractor = _EXTRACTORS.register
"""Class decorator: make the Extractor subclass available as ``name``."""


def available_extractors() -> list[str]:
    return _EXTRACTORS.names()


def get_extractor(name: str, *, where: str = "", **params):
    """An extractor instance; RecipeError with close matches for an unknown name, and naming
    ``where`` and the option for a number out of its sane range (:mod:`tsl300.config_bounds`)."""
    cls = _EXTRACTORS.lookup(name, also_known=EXTRACTOR_SETS)
    if params:
        defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
        check_bounds(params, where or f"extractor {name}", "params", defaults)
    return cls(**params)


def expand_names(names) -> list[str]:
    """Split a comma list and expand named sets: ``"default,i3d_rgb"`` -> three names."""
    if isinstance(names, str):
        names = names.split(",")
    out: list[str] = []
    for name in names:
        name = name.strip()
        for item in EXTRACTOR_SETS.get(name, (name,)):
            if item and item not in out:
                out.append(item)
    return out

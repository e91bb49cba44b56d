"""Extractor registry: ``@register_extractor`` adds one; ``get_extractor(name, **params)`` builds it.

Modules in this package are imported on first lookup, so a new modality is one new module with
a registered class, never an edit here. Named sets (``default``, ``tsl300``) expand to lists.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil

from tsl300.errors import RecipeError

_REGISTRY: dict[str, type] = {}
_DISCOVERED = False

EXTRACTOR_SETS: dict[str, tuple[str, ...]] = {
    "default": ("visual_stats", "audio_prosody"),
    "tsl300": ("i3d_rgb", "logmel_tsl300"),
}
"""Named extractor sets: ``default`` needs no downloaded weights; ``tsl300`` is the benchmark's."""

_NOT_EXTRACTORS = {"base", "spec", "registry", "pipeline", "store", "weights", "i3d_net"}


def register_extractor(name: str):
    """Class decorator: make the Extractor subclass available as ``name``."""

    def wrap(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"extractor {name!r} is already registered by {_REGISTRY[name]!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_") and info.name not in _NOT_EXTRACTORS:
            importlib.import_module(f"{__package__}.{info.name}")
    _DISCOVERED = True


def available_extractors() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get_extractor(name: str, **params):
    """An extractor instance; RecipeError with close matches for an unknown name."""
    _discover()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY) + list(EXTRACTOR_SETS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RecipeError(f"unknown extractor {name!r}{hint} (available: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name](**params)


def expand_names(names) -> list[str]:
    """Split a comma list and expand named sets: ``"default,i3d_rgb"`` -> three names."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out: list[str] = []
    for name in names:
        name = name.strip()
        for item in EXTRACTOR_SETS.get(name, (name,)):
            if item and item not in out:
                out.append(item)
    return out

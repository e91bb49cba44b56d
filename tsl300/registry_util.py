"""A name -> class registry filled by a class decorator, with lazy discovery of a package's modules.

Used by :mod:`tsl300.extractors.registry`; :mod:`tsl300.methods.registry` has the same shape.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterable

from .errors import RecipeError


class Registry:
    """Classes registered under a name; ``package``'s modules (less ``skip``) are imported on first use."""

    def __init__(self, kind: str, package: str, skip: Iterable[str] = ()):
        self.kind, self.package, self.skip = kind, package, frozenset(skip)
        self.classes: dict[str, type] = {}
        self._discovered = False

    def register(self, name: str):
        """Class decorator: make ``cls`` available as ``name`` (sets ``cls.name``)."""

        def wrap(cls):
            existing = self.classes.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} {name!r} is already registered by {existing!r}")
            cls.name = name
            self.classes[name] = cls
            return cls

        return wrap

    def discover(self) -> None:
        """Import every public module of the package once, so their decorators run."""
        if self._discovered:
            return
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_") and info.name not in self.skip:
                importlib.import_module(f"{self.package}.{info.name}")
        self._discovered = True

    def names(self) -> list[str]:
        self.discover()
        return sorted(self.classes)

    def lookup(self, name: str, also_known: Iterable[str] = ()) -> type:
        """The class for ``name``; RecipeError with close matches (among ``also_known`` too)."""
        self.discover()
        if name not in self.classes:
            close = difflib.get_close_matches(name, list(self.classes) + list(also_known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RecipeError(f"unknown {self.kind} {name!r}{hint} "
                              f"(available: {', '.join(sorted(self.classes))})")
        return self.classes[name]

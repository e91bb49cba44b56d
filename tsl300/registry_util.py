"""A name -> class registry filled by a class decorator, with lazy discovery of a package's modules.

Used by :mod:`tsl300.extractors.registry` and :mod:`tsl300.methods.registry`.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from types import ModuleType

from .errors import RecipeError


class Registry:
    """Classes registered under a name; ``package``'s modules (less ``skip``) are imported on first use."""

    def __init__(self, kind: str, package: str, skip: Iterable[str] = (),
                 on_module: Callable[[ModuleType], None] | None = None):
        self.kind, self.package, self.skip = kind, package, frozenset(skip)
        self.on_module = on_module  # called with each discovered module (extra registrations)
        self.classes: dict[str, type] = {}
        self._discovered = False

    def register(self, name: str):
        """Class decorator: make ``cls`` available as ``name`` (sets ``cls.name``)."""

        def wrap(cls):
            existing = self.classes.get(name)
            # the same class defined again (a module reloaded) replaces itself; another class is an error
            if existing is not None and _identity(existing) != _identity(cls):
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
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_") and info.name not in self.skip:
                module = importlib.import_module(f"{self.package}.{info.name}")
                if self.on_module is not None:
                    self.on_module(module)
        self._discovered = True

    def names(self) -> list[str]:
        self.discover()
        return sorted(self.classes)

    def lookup(self, name: str, also_known: Iterable[str] = ()) -> type:
        """The class for ``name``; RecipeError with the closest match (among ``also_known`` too)."""
        if name not in self.classes:
            self.discover()
        if name not in self.classes:
            close = difflib.get_close_matches(name, list(self.classes) + list(also_known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"unknown {self.kind} {name!r}{hint}; "
                              f"available: {', '.join(sorted(self.classes))}")
        return self.classes[name]


def _identity(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__

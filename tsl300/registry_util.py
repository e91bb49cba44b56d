"""A name -> class registry filled by a class decorator, with lazy discovery of a package's modules
and of installed plugins.

Used by :mod:`tsl300.extractors.registry` and :mod:`tsl300.methods.registry`. A separately
installed package adds an extractor or a method without touching this one by declaring an
entry point in the registry's group (``tsl300.extractors`` / ``tsl300.methods``)::

    [project.entry-points."tsl300.extractors"]
    mean_green = "my_package.extractors:MeanGreen"

Only installed distributions are searched (as pip put them on ``sys.path``); a recipe can name
a plugin's class but cannot make tsl300 import anything else.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import pkgutil
import warnings
from collections.abc import Callable, Iterable

from .errors import RecipeError


class Registry:
    """Classes registered under a name; ``package``'s modules (less ``skip``) are imported on first use."""

    def __init__(self, kind: str, package: str, skip: Iterable[str] = (),
                 check: Callable[[type], None] | None = None, entry_point_group: str | None = None):
        self.kind, self.package, self.skip = kind, package, frozenset(skip)
        self.check = check  # raises TypeError for a class that breaks the registry's contract
        self.entry_point_group = entry_point_group
        self.classes: dict[str, type] = {}
        self._discovered = False

    def register(self, name: str):
        """Class decorator: make ``cls`` available as ``name`` (sets ``cls.name``)."""

        def wrap(cls):
            if self.check is not None:
                self.check(cls)
            existing = self.classes.get(name)
            # the same class defined again (a module reloaded) replaces itself; another class is an error
            if existing is not None and _identity(existing) != _identity(cls):
                raise ValueError(f"{self.kind} {name!r} is already registered by {existing!r}")
            cls.name = name
            self.classes[name] = cls
            return cls

        return wrap

    def discover(self, refresh: bool = False) -> None:
        """Import every public module of the package once, so their decorators run, then load the
        installed plugins; ``refresh`` looks again (after installing a plugin in a live session)."""
        if self._discovered and not refresh:
            return
        package = importlib.import_module(self.package)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_") and info.name not in self.skip:
                importlib.import_module(f"{self.package}.{info.name}")
        if self.entry_point_group:
            self._load_plugins()
        self._discovered = True

    def _load_plugins(self) -> None:
        """Entry points of the group: a class is registered under the entry point's name (unless
        its own decorator registered it); a module just runs its decorators. A plugin that fails
        to import or breaks the registry's contract is reported with a warning and left out, so it cannot break the others."""
        for point in importlib.metadata.entry_points(group=self.entry_point_group):
            try:
                loaded = point.load()
                if isinstance(loaded, type) and loaded not in self.classes.values():
                    self.register(point.name)(loaded)
            except Exception as exc:  # noqa: BLE001 - any import error of third-party code
                warnings.warn(f"{self.kind} plugin {point.name!r} ({point.value}) failed to load and is "
                              f"left out: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)

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

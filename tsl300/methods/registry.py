"""Method registry: recipe ``method: NAME`` -> Method class.

A method module in ``tsl300/methods/`` registers itself with ``@register_method("name")``
(an installed plugin through its entry point). Modules are discovered on first lookup (as the
CLI discovers commands), so adding a method is one new module and one recipe, never an edit here.

The one construction contract (what :func:`build_method` calls; checked at registration)::

    cls(model: cls.ModelConfig, loss: cls.LossConfig, spec: ModelSpec)

``ModelConfig`` and ``LossConfig`` are dataclasses bound on the class (a method without
options keeps the base class's empty :class:`~tsl300.methods.base.NoOptions`); by convention they are
module-level classes named ``<Method>Model`` and ``<Method>Loss`` (the recipe's ``model:`` and
``loss:`` sections; ``<Method>LossConfig``, where a module has one, holds the constants of its
pure loss function). Their defaults are the method's main recipe's values. The sections are
validated against them (unknown key -> RecipeError). ``ModelSpec`` carries what the data
decides: per-snippet input shape of each modality and the class names.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..classes import CLASS_CODES
from ..errors import RecipeError
from ..registry_util import Registry


@dataclass(frozen=True)
class ModelSpec:
    """Shapes decided by the data: ``modality_shapes`` maps modality -> per-snippet shape
    (e.g. ``{"rgb": (1024,), "logmfcc": (32, 60)}``); ``classes`` the class names in index order."""

    modality_shapes: dict[str, tuple[int, ...]]
    classes: tuple[str, ...] = CLASS_CODES
    extractor_specs: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def require(self, method: str, *modalities: str, why: str = "") -> None:
        """RecipeError unless every named modality is in the data (one message for all methods;
        ``why`` is appended to it)."""
        for mod in modalities:
            if mod not in self.modality_shapes:
                raise RecipeError(f"{method} needs modality {mod!r}; the data has {sorted(self.modality_shapes)}"
                                  + (f" ({why})" if why else ""))

    def vector_dim(self, method: str, modality: str) -> int:
        """D of a modality with one (D,) vector per snippet; RecipeError (one message for all
        methods) for a missing modality or any other per-snippet shape."""
        self.require(method, modality)
        shape = tuple(self.modality_shapes[modality])
        if len(shape) != 1:
            raise RecipeError(f"{method}: {modality!r} must be a vector per snippet (T, D features), got {shape}")
        return int(shape[0])

    def to_json(self) -> dict:
        return {"modality_shapes": {k: list(v) for k, v in self.modality_shapes.items()},
                "classes": list(self.classes), "extractor_specs": dict(self.extractor_specs)}

    @classmethod
    def from_json(cls, data: dict) -> "ModelSpec":
        return cls(modality_shapes={k: tuple(int(x) for x in v)
                                    for k, v in data["modality_shapes"].items()},
                   classes=tuple(data["classes"]),
                   extractor_specs=dict(data.get("extractor_specs", {})))


def check_method_contract(cls: type) -> None:
    """TypeError unless ``cls`` is a Method with ``ModelConfig`` and ``LossConfig`` dataclasses."""
    from .base import Method

    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{cls!r} is not a tsl300.methods.base.Method subclass")
    for attr in ("ModelConfig", "LossConfig"):
        if not dataclasses.is_dataclass(getattr(cls, attr, None)):
            raise TypeError(f"method {cls.__qualname__}: {attr} must be a dataclass "
                            "(see tsl300.methods.registry)")


_METHODS = Registry("method", "tsl300.methods", skip=("base", "registry"), check=check_method_contract,
                    entry_point_group="tsl300.methods")

register_method = _METHODS.register
"""Class decorator: ``@register_method("name")`` makes ``cls`` available to recipes as ``method: name``."""


def available_methods() -> list[str]:
    return _METHODS.names()


def get_method(name: str) -> type:
    """The registered class for ``name``; RecipeError with a close match otherwise."""
    return _METHODS.lookup(name)


def build_method(recipe, spec: ModelSpec):
    """Instantiate ``recipe.method`` for data described by ``spec``."""
    return get_method(recipe.method)(recipe.model_config(), recipe.loss_config(), spec)

"""Method registry: recipe ``method: NAME`` -> Method class.

A method module in ``tsl300/methods/`` registers itself with ``@register_method("name")``.
Modules are discovered on first lookup (as the CLI discovers commands), so adding a method is
one new module and one recipe, never an edit here.

Construction contract (what ``build_method`` calls)::

    cls(model: cls.ModelConfig, loss: cls.LossConfig, spec: ModelSpec)

``ModelConfig`` and ``LossConfig`` are dataclasses declared on the class; the recipe's
``model:`` and ``loss:`` sections are validated against them (unknown key -> RecipeError).
``ModelSpec`` carries what the data decides: per-snippet input shape of each modality and the
class names.

A method without ``ModelConfig`` may instead take one dict of options (the recipe's ``model``
and ``loss`` sections merged) and validate it itself:
``cls(config: dict, modality_shapes: dict, num_classes: int)``. A ``Method`` subclass that sets a
``name`` class attribute in a module of this package is registered under that name even
without the decorator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RecipeError
from ..registry_util import Registry


@dataclass(frozen=True)
class ModelSpec:
    """Shapes decided by the data: ``modality_shapes`` maps modality -> per-snippet shape
    (e.g. ``{"rgb": (1024,), "logmfcc": (32, 60)}``); ``classes`` the class names in index order."""

    modality_shapes: dict[str, tuple[int, ...]]
    classes: tuple[str, ...] = ("n", "p")
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


@dataclass
class NoConfig:
    """Default ``ModelConfig``/``LossConfig`` for methods without options."""


def _register_named_classes(module) -> None:
    """Also register ``Method`` subclasses of ``module`` that only set a ``name`` attribute."""
    from .base import Method

    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, Method) and value.__module__ == module.__name__
                and "name" in vars(value) and value.name not in _METHODS.classes):
            _METHODS.classes[value.name] = value


_METHODS = Registry("method", "tsl300.methods", skip=("base", "registry"), on_module=_register_named_classes,
                    entry_point_group="tsl300.methods")

register_method = _METHODS.register
"""Class decorator: ``@register_method("name")`` makes ``cls`` available to recipes as ``method: name``."""


def available_methods() -> list[str]:
    return _METHODS.names()


def get_method(name: str) -> type:
    """The registered class for ``name``; RecipeError with a close match otherwise."""
    return _METHODS.lookup(name)


def uses_dataclass_config(cls) -> bool:
    """True for the ``cls(ModelConfig, LossConfig, spec)`` contract, False for a dict config."""
    return hasattr(cls, "ModelConfig") or hasattr(cls, "LossConfig")


def config_classes(cls) -> tuple[type, type]:
    """``(ModelConfig, LossConfig)`` of a method class (``NoConfig`` when not declared)."""
    return getattr(cls, "ModelConfig", NoConfig), getattr(cls, "LossConfig", NoConfig)


def build_method(recipe, spec: ModelSpec):
    """Instantiate ``recipe.method`` for data described by ``spec`` (either contract)."""
    cls = get_method(recipe.method)
    if uses_dataclass_config(cls):
        return cls(recipe.model_config(), recipe.loss_config(), spec)
    overlap = set(recipe.model) & set(recipe.loss)
    if overlap:
        raise RecipeError(f"{recipe.source}: key {sorted(overlap)[0]!r} is in both 'model' and 'loss'")
    return cls({**recipe.model, **recipe.loss}, dict(spec.modality_shapes), spec.num_classes)

"""Recipes: YAML files validated against dataclass schemas.

A recipe says everything a training run needs: the method and its model/loss options, the
optimizer and schedule, batch size, data (modalities, point source, validation share),
post-processing and the seed. Every key is checked: an unknown or misspelt key is a
``RecipeError`` naming the key and the file, with the closest valid key as a suggestion.

``inherit: other.yaml`` (path relative to the recipe) loads a base recipe first and merges this
one over it, so a variant that differs only by numbers is a few lines. YAML is read with a
safe loader that also refuses aliases (``*name``): a recipe can never build Python objects,
import modules, or expand into a "billion laughs" bomb. Numbers are checked against the one
table of sane ranges (:mod:`tsl300.config_bounds`) as they are read.

Example::

    method: flagship
    model: {hidden: 256}
    loss: {label_smoothing: 0.1}
    optimizer: {name: adam, lr: 1.0e-4}
    schedule: {steps: 600}
    batch_size: 16
    seed: 1
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_bounds import check_bounds
from .errors import RecipeError


@dataclass
class OptimizerConfig:
    """``lr_multipliers`` maps a parameter-name prefix to a factor on ``lr`` (TSL-Net: audio CNN x10)."""

    name: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    lr_multipliers: dict[str, float] = field(default_factory=dict)


@dataclass
class ScheduleConfig:
    """Steps are optimizer updates of one batch each."""

    steps: int = 1000
    kind: str = "constant"  # constant | cosine | linear
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None
    eval_every: int = 0  # 0: only at the end
    log_every: int = 10
    checkpoint_every: int = 0  # 0: at eval points and at the end


@dataclass
class DataConfig:
    """``point_source`` and ``loader_options`` are passed to ``tsl300.data.load_dataset``."""

    modalities: list[str] = field(default_factory=lambda: ["rgb", "logmfcc"])
    point_source: str | None = None
    val_fraction: float = 0.1
    max_snippets: int | None = None  # random crop of long training videos (None: whole video)
    loader_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    method: str
    name: str = ""
    description: str = ""
    seed: int = 1
    batch_size: int = 16
    select: str = "last"  # val | last | test
    model: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    postprocess: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # file it came from (set by the loader, not read from YAML)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out

    def model_config(self):
        return self._section_config("model")

    def loss_config(self):
        return self._section_config("loss")

    def _section_config(self, section: str):
        from .methods.registry import get_method

        method = get_method(self.method)
        schema = method.ModelConfig if section == "model" else method.LossConfig
        return build_dataclass(schema, getattr(self, section), f"{self.source or '<recipe>'}", section)


SELECT_CHOICES = ("val", "last", "test")
_RESERVED = {"inherit", "source"}


# ---------------------------------------------------------------------------- validation


def build_dataclass(cls, data: Any, where: str, prefix: str = ""):
    """Instantiate dataclass ``cls`` from a mapping, checking keys and value types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: '{prefix or 'recipe'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields or key in _RESERVED:
            valid = [k for k in fields if k not in _RESERVED]
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise RecipeError(f"{where}: unknown key '{path}'{hint}; valid keys here: {', '.join(valid)}")
        kwargs[key] = _coerce(value, hints[key], where, path)
    check_bounds(kwargs, where, prefix, {n: f.default for n, f in fields.items()})
    missing = [n for n, f in fields.items() if n not in kwargs and n not in _RESERVED
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise RecipeError(f"{where}: missing required key '{(prefix + '.') if prefix else ''}{missing[0]}'")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, where, path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where, path)
            except RecipeError as exc:
                errors.append(str(exc))
        raise RecipeError(errors[0] if errors else f"{where}: '{path}' has an invalid value {value!r}")
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(where, path, "true/false", value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(where, path, "an integer", value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise _type_error(where, path, "a number", value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _type_error(where, path, "a string", value)
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(where, path, "a list", value)
        return [_coerce(v, args[0], where, f"{path}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise _type_error(where, path, f"a list of {len(args)} values", value)
        if args and args[-1] is Ellipsis:
            return tuple(_coerce(v, args[0], where, f"{path}[{i}]") for i, v in enumerate(value))
        return tuple(_coerce(v, a, where, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(where, path, "a mapping", value)
        return {str(k): _coerce(v, args[1], where, f"{path}.{k}") if args else v for k, v in value.items()}
    return value


def _type_error(where: str, path: str, expected: str, value: Any) -> RecipeError:
    return RecipeError(f"{where}: '{path}' must be {expected}, got {value!r}")


# ---------------------------------------------------------------------------- loading


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases: a 473-byte recipe of nested ``*a`` references
    ("billion laughs") would otherwise expand to gigabytes. Anchors alone are harmless."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"found alias *{event.anchor}: aliases are "
                                              "not allowed in recipes (write the value out)",
                                              event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """The one way recipe text (files and ``--set`` values) is parsed: safe, no aliases."""
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader



def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc.strerror})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping, got {type(data).__name__}")
    return data


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise RecipeError(f"{path}: 'inherit' makes a cycle ({' -> '.join(str(p) for p in seen + (path,))})")
    data = _read_yaml(path)
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(f"{path}: 'inherit' must be a file name, got {parent!r}")
    return _merge(_resolve(path.parent / parent, seen + (path,)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"schedule.steps=200"`` -> (["schedule", "steps"], 200); the value is parsed as YAML."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected KEY=VALUE, e.g. schedule.steps=200")
    key, raw = text.split("=", 1)
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise RecipeError(f"--set {text!r}: empty key")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.composer.ComposerError as exc:
        raise RecipeError(f"--set {text!r}: {exc.problem}") from None
    except yaml.YAMLError:
        value = raw
    return keys, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    out = copy.deepcopy(data)
    for item in overrides:
        keys, value = parse_override(item)
        node = out
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    return out


def recipe_from_dict(data: dict, source: str = "<recipe>") -> Recipe:
    """Validate a recipe mapping, including the method's own ``model``/``loss`` sections."""
    if "method" not in data:
        raise RecipeError(f"{source}: missing required key 'method'")
    recipe = build_dataclass(Recipe, {k: v for k, v in data.items() if k != "source"}, source)
    recipe.source = source
    if recipe.select not in SELECT_CHOICES:
        raise RecipeError(f"{source}: 'select' must be one of {', '.join(SELECT_CHOICES)}, got {recipe.select!r}")
    if recipe.batch_size < 1:
        raise RecipeError(f"{source}: 'batch_size' must be >= 1, got {recipe.batch_size}")
    if recipe.schedule.steps < 1:
        raise RecipeError(f"{source}: 'schedule.steps' must be >= 1, got {recipe.schedule.steps}")
    if recipe.schedule.kind not in ("constant", "cosine", "linear"):
        raise RecipeError(f"{source}: 'schedule.kind' must be constant, cosine or linear, got {recipe.schedule.kind!r}")
    if recipe.optimizer.name not in ("adam", "adamw", "sgd"):
        raise RecipeError(f"{source}: 'optimizer.name' must be adam, adamw or sgd, got {recipe.optimizer.name!r}")
    if not (math.isfinite(recipe.optimizer.lr) and recipe.optimizer.lr >= 0):
        raise RecipeError(f"{source}: 'optimizer.lr' must be a finite number >= 0, got {recipe.optimizer.lr}")
    if not 0.0 <= recipe.data.val_fraction < 1.0:
        raise RecipeError(f"{source}: 'data.val_fraction' must be in [0, 1), got {recipe.data.val_fraction}")
    if not recipe.data.modalities:
        raise RecipeError(f"{source}: 'data.modalities' must name at least one modality")
    recipe.model_config()  # validate the method's sections now, not mid-run
    recipe.loss_config()
    validate_postprocess(recipe.postprocess, source)
    return recipe


def validate_postprocess(params: dict, source: str):
    """Check ``postprocess`` keys against the shared post-processing's parameter dataclass."""
    try:
        from . import postprocess
    except ImportError:
        return params
    schema = getattr(postprocess, "PostprocessParams", None)
    if schema is None or not dataclasses.is_dataclass(schema):
        return params
    return build_dataclass(schema, params, source, "postprocess")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, merge (``inherit``), override (``--set``) and validate a recipe file."""
    path = Path(path)
    data = _resolve(path)
    if overrides:
        data = apply_overrides(data, overrides)
    recipe = recipe_from_dict(data, str(path))
    if "name" not in data:  # a name given, even "", is kept as given
        recipe.name = path.stem
    return recipe


def dump_recipe(recipe: Recipe) -> str:
    """YAML text of a validated recipe (every default spelled out), for run folders."""
    data = recipe.to_dict()
    data["optimizer"]["betas"] = list(data["optimizer"]["betas"])
    return yaml.safe_dump(data, sort_keys=False)

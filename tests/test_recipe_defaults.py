"""Defaults live in one place. A method's ``ModelConfig``/``LossConfig`` defaults are its main
recipe's values; a variant recipe (``inherit:``) holds only what differs from its base, each
difference with a comment on its line or the line above."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from tsl300.methods.registry import get_method
from tsl300.recipes import _resolve, load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
MAIN = {"tsl_net": "tsl_net/tsl_net.yaml", "co2net": "co2net/co2net.yaml", "sfnet": "sfnet/sfnet.yaml",
        "lacp": "lacp/lacp.yaml", "backtal": "backtal/backtal.yaml", "case": "case/case.yaml",
        "refineloc": "refineloc/refineloc.yaml", "flagship": "tsl300/flagship.yaml",
        "tspnet": "tspnet/tspnet.yaml", "hrpro": "hrpro/hrpro.yaml",
        "pps": "pps/pps.yaml", "potloc": "potloc/potloc.yaml"}
VARIANTS = sorted(p for p in RECIPES.glob("*/*.yaml") if "inherit" in yaml.safe_load(p.read_text(encoding="utf-8")))
NOT_SETTINGS = {"inherit", "name", "description"}


def _differences(got, want) -> dict:
    return {f.name: (getattr(got, f.name), getattr(want, f.name)) for f in dataclasses.fields(want)
            if getattr(got, f.name) != getattr(want, f.name)}


@pytest.mark.parametrize("method", sorted(MAIN))
def test_config_defaults_are_the_main_recipe(method):
    recipe = load_recipe(RECIPES / MAIN[method])
    cls = get_method(method)
    assert recipe.method == method
    assert _differences(recipe.model_config(), cls.ModelConfig()) == {}
    assert _differences(recipe.loss_config(), cls.LossConfig()) == {}


def test_every_built_in_method_has_a_main_recipe():
    from tsl300.methods.registry import _METHODS

    _METHODS.discover()
    built_in = {n for n, c in _METHODS.classes.items() if c.__module__.startswith("tsl300.methods.")}
    assert built_in == set(MAIN)


def _leaves(node: yaml.MappingNode, prefix: tuple = ()):
    """``(key path, line)`` of every setting; a list or a scalar is one setting."""
    for key, value in node.value:
        path = prefix + (key.value,)
        if isinstance(value, yaml.MappingNode) and not (len(path) == 2 and path[0] == "optimizer"
                                                        and path[1] == "lr_multipliers"):
            yield from _leaves(value, path)
        else:
            yield path, key.start_mark.line


def _lookup(data: dict, path: tuple):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return KeyError
        data = data[key]
    return data


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_variant_holds_only_its_commented_differences(variant):
    text = variant.read_text(encoding="utf-8")
    lines = text.splitlines()
    data = yaml.safe_load(text)
    base = _resolve(variant.parent / data["inherit"])
    for path, line in _leaves(yaml.compose(text)):
        if path[0] in NOT_SETTINGS:
            continue
        key = ".".join(path)
        assert _lookup(data, path) != _lookup(base, path), f"{variant.name}: {key} restates its base's value"
        after_key = lines[line].split(":", 1)[1]
        commented = "#" in after_key or (line > 0 and lines[line - 1].lstrip().startswith("#"))
        assert commented, f"{variant.name}: {key} differs from its base without a comment saying why"

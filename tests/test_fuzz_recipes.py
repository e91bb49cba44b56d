"""Hypothesis fuzzing of the recipe parser: YAML files and ``--set KEY=VALUE`` overrides.

Any text or override gives a valid :class:`~tsl300.recipes.Recipe` or a
:class:`~tsl300.errors.RecipeError` naming the file; never another exception type. An accepted
override lands exactly where it says, with the value typed (no silent string "1e-3" where a
number was meant, no value dropped).
"""
from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsl300.errors import RecipeError, Tsl300Error
from tsl300.recipes import load_recipe

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = """\
method: flagship
seed: 3
batch_size: 4
model: {hidden: 16}
optimizer: {name: adam, lr: 1.0e-3}
schedule: {steps: 10}
data: {modalities: [rgb, logmfcc]}
"""
# (key, python type the field holds) of fields an override may set
FIELDS = {
    "seed": int, "batch_size": int, "select": str, "name": str,
    "optimizer.lr": float, "optimizer.weight_decay": float, "optimizer.name": str,
    "schedule.steps": int, "schedule.warmup_steps": int, "schedule.kind": str,
    "schedule.grad_clip": float, "data.val_fraction": float, "data.max_snippets": int,
}
KEYS = st.one_of(st.sampled_from(sorted(FIELDS)), st.sampled_from(
    ["sed", "optimizer.lrr", "schedule", "model", "data.modalities", "method", "optimizer.lr.x", ".", "a..b"]))
VALUES = st.one_of(
    st.integers(-5, 100).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e-3", "1.0e-3", "true", "null", "~", "[1, 2]", "{a: 1}", "adam", "sgd", "cosine",
                     "val", "last", "", "'5'", "!!python/object/apply:os.system ['echo hi']", "{", "- x"]),
    st.text(max_size=8),
)


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz_recipe") / "base.yaml"
    path.write_text(BASE)
    return path


def _get(recipe, key):
    node = recipe
    for part in key.split("."):
        node = getattr(node, part)
    return node


@FUZZ
@given(overrides=st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3))
def test_overrides(recipe_file, overrides):
    texts = [f"{k}={v}" for k, v in overrides]
    try:
        recipe = load_recipe(recipe_file, texts)
    except Tsl300Error as exc:
        assert isinstance(exc, RecipeError), type(exc)
        return
    final = dict(overrides)  # the last override of a key wins
    for key, raw in final.items():
        if key not in FIELDS:
            continue
        try:
            expected = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            expected = raw
        got = _get(recipe, key)
        if FIELDS[key] is float and isinstance(expected, str):
            expected = float(expected)  # YAML 1.1 reads 1e-3 as a string: it is a number here
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == expected and type(got) is (FIELDS[key] if expected is not None else type(None)), (key, raw, got)


@FUZZ
@given(text=st.one_of(st.text(max_size=80), st.sampled_from([
    "method: flagship\nmethod: flagship\n", "- method: flagship", "method: [flagship]", "method: 3",
    "method: nosuchmethod", "method: flagship\nschedule: 5", "method: flagship\nschedule: {steps: -1}",
    "method: flagship\nbatch_size: 0", "method: flagship\ninherit: missing.yaml", "method: flagship\ninherit: 3",
    "method: flagship\ndata: {val_fraction: 1.5}", "method: flagship\noptimizer: {betas: [0.9]}",
    "method: flagship\n\t- tab", "&a [*a]", "method: flagship\nsource: x", ": : :", "\x00",
    "method: !!python/name:os.system ''", "method: !!binary aGVsbG8=",
])))
def test_recipe_text(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz_text.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        recipe = load_recipe(path)
    except Tsl300Error as exc:
        assert isinstance(exc, RecipeError), type(exc)
        assert str(path.parent) in str(exc) or "method" in str(exc), str(exc)  # the file (or its inherit)
        return
    data = yaml.safe_load(text)
    assert isinstance(data, dict) and recipe.method == data["method"]

"""Issue 18 items 4 and 8: recipes that bomb the YAML parser or train backwards are refused
when they are read, with a RecipeError naming the file and the field."""
from __future__ import annotations

import resource
import time

import pytest

from tsl300.errors import RecipeError
from tsl300.recipes import load_recipe, recipe_from_dict

BASE = """\
method: flagship
model: {hidden: 16}
schedule: {steps: 10}
"""

# A "billion laughs" of the size: 9 levels of 9 aliases, 9**9 strings once expanded, in
# a field that takes any mapping (without the fix it loads, and saving the run expands it).
BOMB = "method: flagship\ndata:\n  loader_options:\n    a0: &a0 [lol]\n" + "".join(
    f"    a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))


def test_alias_bomb_is_refused_at_once(tmp_path):
    assert len(BOMB) < 600
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(RecipeError, match="aliases are not allowed") as info:
        load_recipe(path)
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: < 100 MB
    assert str(path) in str(info.value)


def test_aliases_are_refused_also_through_inherit_and_set(tmp_path):
    (tmp_path / "base.yaml").write_text("method: flagship\nx: &big [1, 2]\nmodel: {hidden: 16}\ny: *big\n")
    child = tmp_path / "child.yaml"
    child.write_text("inherit: base.yaml\n")
    with pytest.raises(RecipeError, match="aliases are not allowed") as info:
        load_recipe(child)
    assert "base.yaml" in str(info.value)
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE)
    with pytest.raises(RecipeError, match="aliases are not allowed"):
        load_recipe(plain, ["model.hidden=*a"])


def test_an_anchor_without_alias_is_still_a_recipe(tmp_path):
    path = tmp_path / "anchor.yaml"
    path.write_text("method: flagship\nmodel: &m {hidden: 16}\n")
    assert load_recipe(path).model == {"hidden": 16}


BACKWARDS = [  # (override, field named in the error); each is accepted (or a traceback) without bounds
    ("schedule.grad_clip=-1", "schedule.grad_clip"),
    ("schedule.min_lr_ratio=-0.5", "schedule.min_lr_ratio"),
    ("model.topk_ratio=0", "model.topk_ratio"),
    ("model.hidden=0", "model.hidden"),
    ("model.mel_time_groups=0", "model.mel_time_groups"),
    ("optimizer.weight_decay=.nan", "optimizer.weight_decay"),
    ("model.encoder_dropout=2", "model.encoder_dropout"),
    ("data.max_snippets=-5", "data.max_snippets"),
    ("model.fusion_hidden=400000", "model.fusion_hidden"),
    ("optimizer.betas=[0.9, 1.5]", "optimizer.betas"),
]


@pytest.mark.parametrize("override,field", BACKWARDS)
def test_recipe_values_out_of_range_name_file_and_field(tmp_path, override, field):
    path = tmp_path / "r.yaml"
    path.write_text(BASE)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, [override])
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value), str(info.value)


@pytest.mark.parametrize("method", ["tsl_net", "lacp", "co2net", "sfnet", "backtal"])
def test_dropout_2_is_refused_for_every_method(method):
    with pytest.raises(RecipeError, match="'model.dropout' must be a finite number >= 0 and < 1"):
        recipe_from_dict({"method": method, "model": {"dropout": 2}}, "stored.json")


def test_zero_means_automatic_where_the_default_is_zero():
    """SF-Net's ``hidden: 0`` is "the input width" (its default), so it stays valid."""
    assert recipe_from_dict({"method": "sfnet", "model": {"hidden": 0}}).model_config().hidden == 0
    with pytest.raises(RecipeError, match="'model.hidden'"):
        recipe_from_dict({"method": "sfnet", "model": {"hidden": -1}})


def test_an_empty_name_override_is_kept(tmp_path):
    """Found by tests/test_fuzz_recipes.py::test_overrides: ``--set name=`` gave the file stem."""
    path = tmp_path / "base.yaml"
    path.write_text(BASE)
    assert load_recipe(path, ["name="]).name == ""
    assert load_recipe(path).name == "base"

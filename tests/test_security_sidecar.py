"""Issue 18 item 3: sizes in a sidecar are checked (against sane bounds and the weights'
shapes) before anything is allocated; a bad one is a named error, never a MemoryError."""
from __future__ import annotations

import json
import shutil

import pytest

import tsl300
from tsl300.engine import loader
from tsl300.engine.loader import load_trained
from tsl300.errors import CheckpointError, RecipeError


@pytest.fixture
def tampered(tiny_flagship_checkpoint, tmp_path):
    """``tamper(edit)``: a copy of the tiny flagship model whose sidecar ``edit(meta)`` changed."""

    def tamper(edit):
        folder = tmp_path / f"model{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        shutil.copy(tiny_flagship_checkpoint, folder / "model.safetensors")
        meta = json.loads(tiny_flagship_checkpoint.with_suffix(".json").read_text())
        edit(meta)
        (folder / "model.json").write_text(json.dumps(meta))
        return folder / "model.safetensors"

    return tamper


@pytest.fixture
def real_builds(monkeypatch):
    """The loader's real (non-meta) builds of a method, recorded as they happen."""
    calls = []
    real = loader.build_method

    def recording(recipe, spec):
        calls.append(dict(recipe.model))
        return real(recipe, spec)

    monkeypatch.setattr(loader, "build_method", recording)
    return calls


def test_a_size_the_weights_do_not_hold_is_refused_before_building(tampered, real_builds):
    path = tampered(lambda m: m["recipe"]["model"].update(hidden=2000, fusion_hidden=2000))
    with pytest.raises(CheckpointError, match="the sidecar's recipe/spec make .* but the weights hold") as info:
        load_trained(path)
    assert str(path) in str(info.value)
    assert real_builds == []  # the 350 MB model was never allocated


@pytest.mark.parametrize("field,value", [("hidden", 100_000_000), ("fusion_hidden", 400_000)])
def test_an_absurd_size_is_a_recipe_error_naming_the_sidecar(tampered, real_builds, field, value):
    path = tampered(lambda m: m["recipe"]["model"].update({field: value}))
    with pytest.raises(RecipeError, match=f"'model.{field}' must be a finite number") as info:
        tsl300.load_model(path, device="cpu")
    assert str(path) in str(info.value)
    assert real_builds == []


def test_an_absurd_modality_shape_is_refused(tampered, real_builds):
    def edit(meta):
        modality = sorted(meta["spec"]["modality_shapes"])[0]
        meta["spec"]["modality_shapes"][modality] = [10 ** 9]

    with pytest.raises(CheckpointError, match="spec.modality_shapes"):
        load_trained(tampered(edit))
    assert real_builds == []


def test_an_extractor_size_is_checked_when_the_model_loads(tampered):
    """``short_side: 4000`` made every video of a localize batch fail with a MemoryError."""
    def edit(meta):
        meta["spec"]["extractor_specs"]["visual_stats"]["params"]["short_side"] = 4000

    path = tampered(edit)
    with pytest.raises(RecipeError, match=r"'spec.extractor_specs.visual_stats.params.short_side' must be "
                                          r"a finite number >= 8 and <= 1024, got 4000") as info:
        tsl300.load_model(path, device="cpu")
    assert str(path) in str(info.value)


def test_the_untampered_model_still_loads(tiny_flagship_checkpoint, real_builds):
    assert load_trained(tiny_flagship_checkpoint).recipe.method == "flagship"
    assert len(real_builds) == 1

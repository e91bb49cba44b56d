"""Recipes: YAML validated against dataclass schemas, inherit, overrides, the method registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from tsl300.errors import RecipeError
from tsl300.methods.registry import available_methods, get_method
from tsl300.recipes import dump_recipe, load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[1]
FLAGSHIP = REPO / "recipes" / "tsl300" / "flagship.yaml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_flagship_and_ablation_recipes_validate():
    flagship = load_recipe(FLAGSHIP)
    assert flagship.method == "flagship" and flagship.data.modalities == ["rgb", "logmfcc"]
    cfg = flagship.loss_config()
    assert cfg.label_smoothing == pytest.approx(0.1) and cfg.ldl == 2.0
    ablations = {p.stem: load_recipe(p) for p in (REPO / "recipes" / "tsl300").glob("*.yaml") if p.stem != "flagship"}
    assert ablations["no_consensus"].model_config().fusion == "concat"
    assert ablations["no_label_smoothing"].loss_config().label_smoothing == 0.0
    assert ablations["no_ldl"].loss_config().ldl == 0.0
    assert ablations["audio_only"].data.modalities == ["logmfcc"]
    assert ablations["visual_only"].data.modalities == ["rgb"]
    # each ablation differs from the flagship only where it says
    base = flagship.to_dict()
    for name, recipe in ablations.items():
        diff = {k for k, v in recipe.to_dict().items() if v != base[k]}
        assert diff <= {"name", "model", "loss", "data"}, (name, diff)


def test_misspelt_key_names_key_file_and_suggestion(tmp_path):
    path = write(tmp_path, "bad.yaml", "method: flagship\noptimizer:\n  lerning_rate: 0.1\n  lr: 0.1\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    message = str(err.value)
    assert str(path) in message and "optimizer.lerning_rate" in message


def test_misspelt_method_section_key_suggests_close_match(tmp_path):
    path = write(tmp_path, "bad.yaml", "method: flagship\nmodel:\n  hiden: 64\n")
    with pytest.raises(RecipeError, match=r"unknown key 'model.hiden' \(did you mean 'hidden'\?\)"):
        load_recipe(path)
    path = write(tmp_path, "bad2.yaml", "method: flagship\nloss:\n  label_smothing: 0.2\n")
    with pytest.raises(RecipeError, match="did you mean 'label_smoothing'"):
        load_recipe(path)
    path = write(tmp_path, "bad3.yaml", "method: flagship\nbatch_sise: 4\n")
    with pytest.raises(RecipeError, match="did you mean 'batch_size'"):
        load_recipe(path)


def test_wrong_types_and_values_are_errors(tmp_path):
    cases = {
        "method: flagship\nbatch_size: four\n": "'batch_size' must be an integer",
        "method: flagship\nschedule: {steps: 1.5}\n": "'schedule.steps' must be an integer",
        "method: flagship\ndata: {modalities: rgb}\n": "'data.modalities' must be a list",
        "method: flagship\nselect: best\n": "'select' must be one of",
        "method: flagshp\n": "unknown method 'flagshp' \\(did you mean 'flagship'\\?\\)",
        "model: {}\n": "missing required key 'method'",
        "- a list\n": "must be a YAML mapping",
        "method: flagship\npostprocess: {class_thres: 0.2}\n": "did you mean 'class_thresh'",
    }
    for i, (text, pattern) in enumerate(cases.items()):
        with pytest.raises(RecipeError, match=pattern):
            load_recipe(write(tmp_path, f"r{i}.yaml", text))


def test_yaml_cannot_build_python_objects(tmp_path):
    path = write(tmp_path, "evil.yaml", "method: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)


def test_inherit_merges_and_overrides_apply(tmp_path):
    write(tmp_path, "base.yaml", "method: flagship\nseed: 3\nmodel: {hidden: 64, fusion_hidden: 32}\n")
    child = write(tmp_path, "child.yaml", "inherit: base.yaml\nmodel: {hidden: 16}\n")
    recipe = load_recipe(child, ["schedule.steps=7", "loss.ldl=0", "optimizer.lr=1e-3"])
    assert recipe.seed == 3 and recipe.model == {"hidden": 16, "fusion_hidden": 32}
    assert recipe.schedule.steps == 7 and recipe.loss == {"ldl": 0} and recipe.optimizer.lr == 1e-3
    assert recipe.name == "child"
    loop = write(tmp_path, "loop.yaml", "inherit: loop.yaml\nmethod: flagship\n")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(loop)
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        load_recipe(child, ["schedule.steps"])
    with pytest.raises(RecipeError, match="schedule.stepz"):
        load_recipe(child, ["schedule.stepz=3"])


def test_dumped_recipe_reloads_identically(tmp_path):
    recipe = load_recipe(FLAGSHIP)
    path = write(tmp_path, "dumped.yaml", dump_recipe(recipe))
    again = load_recipe(path)
    assert again.to_dict() == recipe.to_dict()


def test_registry_lists_flagship_and_tsl_net():
    names = available_methods()
    assert "flagship" in names
    assert get_method("flagship").ModelConfig.__name__ == "FlagshipModel"
    if "tsl_net" in names:  # registered by its ``name`` attribute (dict-config contract)
        assert recipe_from_dict({"method": "tsl_net"}).method == "tsl_net"

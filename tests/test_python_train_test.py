"""``tsl300.train()`` / ``tsl300.test()``: the Python calls that ``tsl300 train`` / ``tsl300 test``
mirror. Same files, same numbers, whichever way a run is made."""
from __future__ import annotations

import json

import pytest

import tsl300
from tiny_tsl300 import write_tiny_dataset
from tsl300.errors import RecipeError, Tsl300Error

SMALL = ["model.hidden=16", "model.attention_hidden=8", "model.fusion_hidden=16", "schedule.steps=3",
         "batch_size=4", "data.max_snippets=null"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"), n_train=8, n_test=4, seed=3, rgb_dim=16)


def test_train_report_files_and_test_agree(tmp_path, data):
    report = tsl300.train("recipes/tsl300/flagship.yaml", data, tmp_path / "run", seeds=[1, 2], overrides=SMALL,
                          device="cpu")
    assert [r.seed for r in report.runs] == [1, 2] and all(r.result.steps == 3 for r in report.runs)
    assert [r.run_dir.name for r in report.runs] == ["seed_1", "seed_2"]
    summary = json.loads(report.summary_path.read_text())
    assert summary["seeds"] == [1, 2] and summary["per_seed"][0]["avg_mAP"] == pytest.approx(
        100 * report.runs[0].metrics["average_mAP"])
    assert "mean" in report.summary_table() and "std" in report.summary_table()
    tested = tsl300.test(report.runs[0].run_dir, data, output=tmp_path / "pred.json", device="cpu")
    assert tested["predictions_path"] == tmp_path / "pred.json" and tested["meta"]["step"] == 3
    assert tested["metrics"]["average_mAP"] == pytest.approx(report.runs[0].metrics["average_mAP"])


def test_train_without_testing_and_from_a_recipe_object(tmp_path, data):
    from tsl300.recipes import load_recipe

    recipe = load_recipe("recipes/tsl300/flagship.yaml", SMALL)
    report = tsl300.train(recipe, data, tmp_path / "run", test=False, select="last", device="cpu")
    assert len(report.runs) == 1 and report.runs[0].run_dir == tmp_path / "run"
    assert report.runs[0].metrics is None and report.summary_path is None and report.summary_table() is None
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_bad_arguments_are_clear_errors(tmp_path, data):
    from tsl300.recipes import load_recipe

    with pytest.raises(RecipeError, match="select must be one of val, last, test"):
        tsl300.train("recipes/tsl300/flagship.yaml", data, tmp_path, select="best")
    with pytest.raises(RecipeError, match="overrides apply to a recipe file"):
        tsl300.train(load_recipe("recipes/tsl300/flagship.yaml"), data, tmp_path, overrides=["seed=2"])
    with pytest.raises(Tsl300Error, match="distinct"):
        tsl300.train("recipes/tsl300/flagship.yaml", data, tmp_path, seeds=[1, 1])

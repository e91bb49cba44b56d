"""TSP-Net end to end on a tiny synthetic TSL-300-shaped dataset: stage 1 (the base LACP) trains,
its proposals are fixed at the switch, stage 2 trains TSP-Net and updates the saliency points,
the checkpoint predicts with TSP-Net's own inference, and ``bench --recipes all`` includes it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _tiny_training import tiny_synth, train_tiny
from tsl300.benchmarking import default_recipes_dir, resolve_recipes
from tsl300.engine import runs
from tsl300.engine.inference import predict
from tsl300.errors import RecipeError
from tsl300.methods.registry import ModelSpec
from tsl300.methods.tspnet import TSPNet, TSPNetLoss, TSPNetModel
from tsl300.recipes import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SMALL = ["model.base.audio_dim=16", "model.base.search_freq=2", "model.base_steps=4", "model.update_freq=3",
         "optimizer.lr=1e-3", "schedule.steps=10", "schedule.log_every=1", "batch_size=4"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return tiny_synth(tmp_path_factory.mktemp("synth"), seed=5)


@pytest.mark.slow
def test_tspnet_two_stages_train_and_predict(tiny_data, tmp_path):
    trainer, rows = train_tiny("tspnet/tspnet_cpu.yaml", SMALL, tiny_data, tmp_path / "run")
    recipe = trainer.recipe
    method = trainer.method
    assert len(rows) == 10
    assert [float(r["stage"]) for r in rows] == [1.0] * 4 + [2.0] * 6
    assert all(float(r["prop_point_loss"]) == 0 and float(r["loss_frame"]) > 0 for r in rows[:4])  # LACP's loss
    assert all(0 < float(r["prop_point_loss"]) < 10 and 0 < float(r["prop_saliency_loss"]) < 1 for r in rows[4:])
    assert bool(method.stage2)
    assert set(method.train_proposals) == {v.vid for v in trainer.train_videos}
    assert sum(len(p) for p in method.train_proposals.values()) > len(trainer.train_videos)
    assert method.deltas  # two saliency-point updates ran (stage-2 steps 3 and 6)
    test = list(runs.open_split(tiny_data, "test", recipe, with_points=False))
    preds = predict(method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    segs = [s for v in preds.values() for s in v]
    assert segs and all(s.end >= s.start and s.label in ("n", "p") and 0 < s.score <= 1 for s in segs)
    # a resumed run gets the fixed proposals and shifts back
    state = method.training_state()
    fresh = TSPNet(recipe.model_config(), recipe.loss_config(), trainer.spec)
    fresh.load_training_state(state)
    assert fresh.deltas == method.deltas
    assert fresh.train_proposals.keys() == method.train_proposals.keys()
    for vid, props in method.train_proposals.items():
        np.testing.assert_array_equal(fresh.train_proposals[vid], props)


def test_tspnet_without_a_base_needs_a_proposal_file():
    spec = ModelSpec({"rgb": (8,), "logmfcc": (32, 60)})
    with pytest.raises(RecipeError, match="proposal_file"):
        TSPNet(TSPNetModel(base_steps=0), TSPNetLoss(), spec)


def test_tspnet_is_in_bench_all_and_needs_no_prior_run():
    names = [p.parent.name for p in resolve_recipes(["all"], default_recipes_dir())]
    assert "tspnet" in names
    assert load_recipe(RECIPES / "tspnet" / "tspnet.yaml").model_config().proposal_file == ""

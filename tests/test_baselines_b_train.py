"""The BackTAL, RefineLoc and CASE recipes train through the shared trainer on a tiny synthetic
TSL-300-shaped dataset, their loss goes down, and their checkpoints predict segments."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tsl300.data.synth import generate
from tsl300.engine import runs
from tsl300.engine.inference import predict
from tsl300.engine.trainer import Trainer
from tsl300.recipes import load_recipe
from tsl300.timegrid import segment_to_snippets

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

SMALL = {  # shrink the official widths so a few steps run in seconds on a CPU
    "backtal": ["model.audio_dim=32", "model.base_dim=64", "model.hidden_dim=32",
                "model.dropout=0.0", "optimizer.lr=1e-3"],
    "refineloc": ["model.audio_dim=32", "loss.round_steps=20"],
    "case": ["model.audio_dim=32", "model.hidden=32", "optimizer.lr=1e-3"],
}



@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate(root, n_train=8, n_test=3, seed=3, snippets_mean=48)
    return root


def _train(recipe_file: str, data: Path, run_dir: Path, steps: int, extra=()):
    method = recipe_file.split("/")[0]
    recipe = load_recipe(RECIPES / recipe_file,
                         SMALL[method] + [f"schedule.steps={steps}", "schedule.log_every=1",
                                          "batch_size=4", *extra])
    dataset = runs.open_split(data, "train", recipe)
    spec = runs.spec_from_dataset(dataset, recipe.data.modalities)
    trainer = Trainer(recipe, list(dataset), spec, run_dir, progress=False, tensorboard=False)
    trainer.fit()
    with open(run_dir / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return trainer, recipe, [float(r["loss"]) for r in rows], rows


def _assert_goes_down(losses: list[float], window: int = 5):
    assert all(np.isfinite(losses))
    first, last = np.mean(losses[:window]), np.mean(losses[-window:])
    assert last < 0.9 * first, (first, last)


@pytest.mark.parametrize("recipe_file", ["backtal/backtal.yaml", "case/case.yaml"])
def test_baselines_b_recipe_loss_goes_down_and_predicts(recipe_file, tiny_data, tmp_path):
    trainer, recipe, losses, rows = _train(recipe_file, tiny_data, tmp_path / "run", steps=30)
    _assert_goes_down(losses)
    test = list(runs.open_split(tiny_data, "test", recipe, with_points=False))
    preds = predict(trainer.method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    assert set(preds) == {v.vid for v in test}
    segs = [s for v in preds.values() for s in v]
    assert segs and all(s.end > s.start and s.label in ("n", "p") for s in segs)


def test_baselines_b_backtal_uses_clicks(tiny_data, tmp_path):
    trainer, _, _, rows = _train("backtal/backtal.yaml", tiny_data, tmp_path / "run", steps=3)
    assert float(rows[0]["loss_click_base"]) > 0 and float(rows[0]["loss_embedding"]) > 0  # a hinge: 0 = inactive
    clicks = trainer.method._clicks
    assert len(clicks) == len(trainer.train_videos)
    for video in trainer.train_videos:  # one click per background gap, none inside a segment
        spans = [segment_to_snippets(s.start, s.end, video.fps, video.num_snippets)
                 for s in video.segments]
        inside = np.zeros(video.num_snippets, dtype=bool)
        for first, last in spans:
            inside[first:last + 1] = True
        assert len(clicks[video.vid]) >= 1 and not inside[clicks[video.vid]].any()


def test_baselines_b_refineloc_rounds_refine_and_reset(tiny_data, tmp_path):
    """Two refinement rounds happen (steps 20 and 40 of 50), pseudo labels then enter the loss,
    and the loss of each round goes down."""
    trainer, _, losses, rows = _train("refineloc/refineloc.yaml", tiny_data, tmp_path / "run",
                                      steps=50, extra=["optimizer.lr=3e-3"])
    method = trainer.method
    assert method.rounds_done == 2 and method.pseudo is not None
    assert method.pseudo.iteration == 2
    assert all(float(r["pseudo_gt_loss"]) == 0.0 for r in rows[:20])
    assert any(float(r["pseudo_gt_loss"]) > 0.0 for r in rows[20:])
    for start, stop in ((0, 20), (20, 40)):
        _assert_goes_down(losses[start:stop], window=4)
    labels = np.concatenate(list(method.pseudo.labels.values()))
    assert set(np.unique(labels)) <= {-1, 0, 1} and (labels == -1).mean() == pytest.approx(0.3, abs=0.05)

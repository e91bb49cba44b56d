"""POTLoc end to end on a tiny synthetic TSL-300-shaped dataset: the base trains, its proposals
become pseudo labels at the switch, the main network trains on the crops, the checkpoint predicts
with the multi-level inference, and ``bench --recipes all`` includes it."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tsl300.benchmarking import default_recipes_dir, resolve_recipes
from tsl300.data.synth import generate
from tsl300.engine import runs
from tsl300.engine.inference import predict
from tsl300.engine.trainer import Trainer
from tsl300.recipes import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SMALL = ["model.base.audio_dim=16", "model.base_steps=5", "model.embd_dim=16", "model.max_seq_len=96",
         "optimizer.lr=1e-3", "schedule.steps=9", "schedule.log_every=1", "batch_size=4"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate(root, n_train=6, n_test=3, seed=11, snippets_mean=40)
    return root


@pytest.mark.slow
def test_potloc_two_stages_train_and_predict(tiny_data, tmp_path):
    recipe = load_recipe(RECIPES / "potloc" / "potloc_cpu.yaml", SMALL)
    dataset = runs.open_split(tiny_data, "train", recipe)
    spec = runs.spec_from_dataset(dataset, recipe.data.modalities)
    trainer = Trainer(recipe, list(dataset), spec, tmp_path / "run", progress=False, tensorboard=False)
    trainer.fit()
    method = trainer.method
    with open(tmp_path / "run" / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["stage"]) for r in rows] == [1.0] * 5 + [2.0] * 4
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert bool(method.stage2) and set(method.labels_) == {v.vid for v in trainer.train_videos}
    n_labels = sum(len(v) for v in method.labels_.values())
    assert n_labels > 0
    for video in trainer.train_videos:  # each pseudo label contains its point, the class is the point's
        for point, start, end, c in method.labels_[video.vid]:
            assert start <= point <= end and int(c) in set(video.points[:, 1].tolist())
    test = list(runs.open_split(tiny_data, "test", recipe, with_points=False))
    preds = predict(method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    segs = [s for v in preds.values() for s in v]
    assert segs and all(s.end > s.start and s.label in ("n", "p") for s in segs)


def test_potloc_is_in_bench_all():
    assert "potloc" in [p.parent.name for p in resolve_recipes(["all"], default_recipes_dir())]

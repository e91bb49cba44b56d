"""POTLoc end to end on a tiny synthetic TSL-300-shaped dataset: the base trains, its proposals
become pseudo labels at the switch, the main network trains on the crops, the checkpoint predicts
with the multi-level inference, and ``bench --recipes all`` includes it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _tiny_training import tiny_synth, train_tiny
from tsl300.benchmarking import default_recipes_dir, resolve_recipes
from tsl300.engine import runs
from tsl300.engine.inference import predict

SMALL = ["model.base.audio_dim=16", "model.base_steps=5", "model.embd_dim=16", "model.max_seq_len=96",
         "optimizer.lr=1e-3", "schedule.steps=9", "schedule.log_every=1", "batch_size=4"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return tiny_synth(tmp_path_factory.mktemp("synth"), seed=11)


@pytest.mark.slow
def test_potloc_two_stages_train_and_predict(tiny_data, tmp_path):
    trainer, rows = train_tiny("potloc/potloc_cpu.yaml", SMALL, tiny_data, tmp_path / "run")
    recipe = trainer.recipe
    method = trainer.method
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

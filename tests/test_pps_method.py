"""PPS (adapted) end to end on a tiny synthetic TSL-300-shaped dataset: the pull-push losses train
from video labels, every proposal mask and boundary is finite, the checkpoint decodes segments by
IoU voting, and ``bench --recipes all`` includes it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _tiny_training import tiny_synth, train_tiny
from tsl300.benchmarking import default_recipes_dir, resolve_recipes
from tsl300.engine import runs
from tsl300.engine.inference import predict

SMALL = ["model.audio_dim=16", "model.hidden=16", "model.layers=1", "model.num_props=3",
         "schedule.steps=6", "schedule.log_every=1", "batch_size=4"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return tiny_synth(tmp_path_factory.mktemp("synth"), seed=9)


@pytest.mark.slow
def test_pps_trains_and_decodes(tiny_data, tmp_path):
    trainer, rows = train_tiny("pps/pps_cpu.yaml", SMALL, tiny_data, tmp_path / "run")
    recipe = trainer.recipe
    assert len(rows) == 6
    for r in rows:
        assert np.isfinite(float(r["loss"])) and float(r["push_loss"]) > 0 and float(r["pull_loss"]) >= 0
        assert abs(float(r["total"]) - float(r["main_loss"]) - float(r["sub_loss"])) < 1e-4
    method = trainer.method.eval()
    test = list(runs.open_split(tiny_data, "test", recipe, with_points=False))
    from tsl300.engine.batching import collate
    batch = collate(test, recipe.data.modalities, ("n", "p"), "cpu")
    with torch.no_grad():
        out = method(batch)
    assert out["prop_weights"].shape[:3] == (len(test), 2, 3)
    assert torch.isfinite(out["lefts"]).all() and (out["lefts"] >= 0).all() and (out["rights"] <= 1).all()
    assert ((out["video_scores"] > 0) & (out["video_scores"] < 1)).all()  # class c's whole-video softmax at c
    preds = predict(method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    for video in test:
        segs = preds[video.vid]
        assert len(segs) % 3 == 0 and segs  # the 3 proposals of each predicted class
        assert all(0 <= s.start <= s.end <= video.num_snippets * 16 / video.fps + 1e-6 for s in segs)
        assert max(s.score for s in segs) == segs[0].score  # the IoU-voting rank-1 moment leads


def test_pps_is_in_bench_all():
    assert "pps" in [p.parent.name for p in resolve_recipes(["all"], default_recipes_dir())]

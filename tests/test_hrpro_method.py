"""HR-Pro end to end on a tiny synthetic TSL-300-shaped dataset: the memory is initialised from
the points, stage 1 trains, the ranking gives PP/RP/NP on every training video, stage 2 trains the
instance model, the checkpoint predicts with HR-Pro's own inference, and ``bench --recipes all``
includes it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _tiny_training import tiny_synth, train_tiny
from tsl300.benchmarking import default_recipes_dir, resolve_recipes
from tsl300.engine import runs
from tsl300.engine.inference import predict
from tsl300.methods.hrpro import HRPro

SMALL = ["model.audio_dim=16", "model.base_steps=4", "optimizer.lr=1e-3", "schedule.steps=8",
         "schedule.log_every=1", "batch_size=4"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return tiny_synth(tmp_path_factory.mktemp("synth"), seed=7)


@pytest.mark.slow
def test_hrpro_two_stages_train_and_predict(tiny_data, tmp_path):
    trainer, rows = train_tiny("hrpro/hrpro_cpu.yaml", SMALL, tiny_data, tmp_path / "run")
    recipe = trainer.recipe
    method = trainer.method
    assert [float(r["stage"]) for r in rows] == [1.0] * 4 + [2.0] * 4
    assert all(float(r["loss_frame"]) > 0 and float(r["loss_prop_iou"]) == 0 for r in rows[:4])
    assert all(float(r["loss_frame"]) == 0 and float(r["loss_prop_iou"]) > 0 for r in rows[4:])
    proto = method.snippet.memory.proto_vectors[:, 0]
    assert bool(method.memory_ready) and (proto.abs().sum(dim=1) > 0).all()  # both classes have points
    assert set(method.ranked) == {v.vid for v in trainer.train_videos}
    for video in trainer.train_videos:
        ranked = method.ranked[video.vid]
        assert ranked["PP"].shape[1] == 3 and len(ranked["NP"]) == len(ranked["PP"]) // 2
        assert (ranked["NP"][:, 2] < 0).all() and ranked["RP"].shape[1] == 3
    test = list(runs.open_split(tiny_data, "test", recipe, with_points=False))
    preds = predict(method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    segs = [s for v in preds.values() for s in v]
    assert segs and all(s.label in ("n", "p") and np.isfinite(s.score) for s in segs)
    fresh = HRPro(recipe.model_config(), recipe.loss_config(), trainer.spec)
    fresh.load_training_state(method.training_state())
    for vid, ranked in method.ranked.items():
        for key, rows_ in ranked.items():
            np.testing.assert_array_equal(fresh.ranked[vid][key], rows_)


def test_hrpro_is_in_bench_all_and_needs_no_prior_run():
    assert "hrpro" in [p.parent.name for p in resolve_recipes(["all"], default_recipes_dir())]


def test_hrpro_stage2_loss_skips_a_video_without_ranking():
    """A held-out (validation) video was never ranked: stage 2's loss skips it instead of failing
    (KeyError before the fix), and a ranked video in the same batch still counts."""
    from tiny_tsl300 import make_videos

    from tsl300.engine.batching import collate
    from tsl300.methods.hrpro import HRProLoss, HRProModel
    from tsl300.methods.registry import ModelSpec

    videos = make_videos(n_train=2, n_test=0, rgb_dim=16, t_range=(24, 30))
    method = HRPro(HRProModel(audio="", base_steps=1), HRProLoss(), ModelSpec({"rgb": (16,)}))
    method.stage2.fill_(True)
    method.ranked = {videos[0].vid: {"PP": np.array([[2.0, 9.0, 0.5], [10.0, 20.0, 0.4]]),
                                     "RP": np.array([[3.0, 9.0, 0.5]]), "NP": np.array([[21.0, 23.0, -0.5]])}}
    batch = collate(videos, ["rgb"], ("n", "p"), "cpu")
    method.train()
    outputs = method(batch)
    assert outputs["videos"][1]["instance"] is None  # the unranked video gets no training proposals
    loss, logs = method.compute_loss(outputs, batch, step=5)
    assert np.isfinite(float(loss.detach())) and logs["stage"] == 2.0 and logs["loss_prop_iou"] > 0
    method.eval()
    loss, _ = method.compute_loss(method(batch), batch, step=-1)  # validation pass: eval-mode proposals
    assert np.isfinite(float(loss))

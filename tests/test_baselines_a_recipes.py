"""CO2-Net, SF-Net and LACP as recipes: they train on a tiny synthetic set through the shared
trainer (loss goes down), run their own schedules (LACP's search, SF-Net's expansion), and
predict segments in seconds through the shared inference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from tiny_tsl300 import make_videos

from tsl300.data.types import Segment
from tsl300.engine.batching import collate
from tsl300.engine.inference import evaluate_method, predict
from tsl300.engine.trainer import Trainer
from tsl300.methods.co2net import random_perturb_indices
from tsl300.methods.registry import ModelSpec
from tsl300.recipes import load_recipe

TINY = {  # narrow layers so that a few dozen steps take seconds on a CPU
    "co2net": ["model.audio_dim=16", "model.embed_dim=32", "model.attention_hidden=16",
               "model.max_seqlen=48", "batch_size=8"],
    "sfnet": ["model.audio_dim=16", "model.hidden=32", "model.t_max=50", "model.t_max_long=70",
              "model.expand_step=0", "batch_size=8"],
    "lacp": ["model.audio_dim=16", "model.search_freq=0", "batch_size=8"],
}


@pytest.fixture(scope="module")
def videos():
    all_videos = make_videos(n_train=16, n_test=6, seed=3, rgb_dim=32)
    return [v for v in all_videos if v.subset == "train"], [v for v in all_videos if v.subset == "test"]


def _spec(video) -> ModelSpec:
    return ModelSpec({k: tuple(v.shape[1:]) for k, v in video.features.items()})


def _recipe(method: str, extra=(), steps: int = 40, lr: float = 3e-3):
    overrides = TINY[method] + [f"schedule.steps={steps}", f"optimizer.lr={lr}",
                                "optimizer.weight_decay=0", "schedule.log_every=1000"] + list(extra)
    return load_recipe(REPO_ROOT / "recipes" / method / f"{method}_cpu.yaml", overrides)


def _eval_loss(method, batch) -> float:
    method.eval()
    with torch.no_grad():
        loss, _ = method.compute_loss(method(batch), batch, step=0)
    method.train()
    return float(loss)


@pytest.mark.parametrize("name", ["co2net", "sfnet", "lacp"])
def test_recipe_trains_and_its_loss_goes_down(name, videos, tmp_path):
    train, test = videos
    recipe = _recipe(name)
    trainer = Trainer(recipe, train, _spec(train[0]), tmp_path, progress=False, tensorboard=False)
    batch = collate(train[:8], recipe.data.modalities, ("n", "p"))
    before = _eval_loss(trainer.method, batch)
    result = trainer.fit()
    after = _eval_loss(trainer.method, batch)
    assert np.isfinite(before) and np.isfinite(after)
    assert after < 0.9 * before, (name, before, after)
    assert result.model_path.exists()
    predictions = predict(trainer.method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    assert set(predictions) == {v.vid for v in test}
    for video in test:
        for seg in predictions[video.vid]:
            assert isinstance(seg, Segment) and seg.label in ("n", "p")
            assert 0 <= seg.start < seg.end <= video.num_snippets * 16 / video.fps + 1e-9
    assert any(predictions.values())
    metrics = evaluate_method(trainer.method, test, recipe.data.modalities, ("n", "p"), recipe.postprocess)
    assert 0.0 <= metrics["average_mAP"] <= 1.0


def test_lacp_runs_the_optimal_sequence_search_inside_training(videos, tmp_path):
    train, _ = videos
    trainer = Trainer(_recipe("lacp", ["model.search_freq=5"], steps=10), train, _spec(train[0]),
                      tmp_path, progress=False, tensorboard=False)
    trainer.fit()
    method = trainer.method
    assert set(method.dense) == {v.vid for v in train if len(v.points)}
    for video in train:
        dense = method.dense[video.vid]
        assert dense.shape == (video.num_snippets, 2)
        assert set(np.unique(dense)) <= {0.0, 1.0}
        # every point snippet of a class is inside an action run of that class
        for t, c in video.points:
            assert dense[t, c] == 1.0
    batch = collate(train[:4], ["rgb", "logmfcc"], ("n", "p"))
    _, terms = method.compute_loss(method(batch), batch, step=10)
    assert terms["loss_score"] > 0  # the score contrast is active once pseudo labels exist


def test_sfnet_expands_frames_and_reinitialises_the_model(videos, tmp_path):
    train, _ = videos
    recipe = _recipe("sfnet", ["model.expand_step=20"], steps=20)  # expansion after the last step
    trainer = Trainer(recipe, train, _spec(train[0]), tmp_path, progress=False, tensorboard=False)
    trainer.fit()
    method = trainer.method
    assert set(method.expanded) == {v.vid for v in train}
    gained = 0
    for video in train:
        labels = method.expanded[video.vid]
        assert {int(t) for t, _ in video.points} <= set(labels)
        gained += len(labels) - len({int(t) for t, _ in video.points})
    assert gained > 0  # the expansion added frames around the points
    assert len(trainer.optimizer.state) == 0  # Adam moments dropped: a fresh optimizer
    assert torch.equal(method.net.mul_r.detach(), torch.ones_like(method.net.mul_r))
    assert torch.equal(method.net.att_f.detach(), torch.zeros_like(method.net.att_f))


def test_co2net_random_perturb_matches_the_official_rule():
    torch.manual_seed(0)
    lengths = torch.tensor([1000, 500, 37, 1])
    idx = random_perturb_indices(lengths, 500)
    assert idx.shape == (4, 500)
    assert torch.equal(idx[1], torch.arange(500))                 # exact length: kept
    assert torch.equal(idx[3], torch.zeros(500, dtype=torch.long))
    for row, T in zip(idx, lengths.tolist()):
        assert int(row.min()) >= 0 and int(row.max()) <= T - 1
        assert bool((row[1:] >= row[:-1] - 1).all())  # bins overlap by one at most
    edges = torch.floor(torch.arange(501, dtype=torch.float64) * 1000 / 500).long()
    assert bool(((idx[0] >= edges[:-1]) & (idx[0] <= edges[1:])).all())  # both ends inclusive
    assert bool((idx[0] == edges[1:]).any())  # the upper end is reachable (official +1)


@pytest.mark.parametrize("name", ["co2net", "sfnet", "lacp"])
def test_padded_batch_gives_each_video_its_own_outputs(name, videos, tmp_path):
    train, _ = videos
    recipe = _recipe(name)
    trainer = Trainer(recipe, train, _spec(train[0]), tmp_path, progress=False, tensorboard=False)
    method = trainer.method.eval()
    short, long = sorted(train[:2], key=lambda v: v.num_snippets)
    assert short.num_snippets < long.num_snippets
    key = {"co2net": "cas", "sfnet": "tcam", "lacp": "cas_sigmoid_fuse"}[name]
    with torch.no_grad():
        alone = method(collate([short], recipe.data.modalities, ("n", "p")))[key][0]
        padded = method(collate([short, long], recipe.data.modalities, ("n", "p")))[key][0, :short.num_snippets]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_co2net_pairs_share_a_class_and_are_disjoint():
    from tsl300.methods.co2net import shared_class_pairs
    labels = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 1], [1, 0], [0, 0], [1, 0]], dtype=torch.float32)
    pairs = shared_class_pairs(labels, 3)
    assert pairs == [(0, 2), (1, 3), (4, 6)]  # classes in turn, first unused rows
    rows = [r for p in pairs for r in p]
    assert len(rows) == len(set(rows))
    assert all(bool((labels[i] * labels[j]).sum() > 0) for i, j in pairs)
    assert shared_class_pairs(torch.eye(2), 3) == []  # nothing shared: no co-activity term


def test_sfnet_crop_excludes_the_last_snippet_of_long_videos():
    from tsl300.methods.sfnet import crop_starts
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1000, 750, 300]).repeat(2000)
    starts = crop_starts(lengths, 750, gen).reshape(2000, 3)
    assert int(starts[:, 0].min()) == 0 and int(starts[:, 0].max()) == 249  # randint(250)
    assert bool((starts[:, 1:] == 0).all())

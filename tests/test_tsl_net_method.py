"""TSLNetMethod: a padded batch gives each video exactly what it gets alone (B = 1), in eval
and in training mode (BatchNorm statistics per video and 600-snippet chunk), and the recipe
constants validate."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tsl300.errors import RecipeError
from tsl300.methods.registry import ModelSpec
from tsl300.methods.tsl_net import AUDIO_CNN_PREFIX, TSLNetLoss, TSLNetMethod, TSLNetModel
from tsl300.recipes import recipe_from_dict

SMALL = dict(audio_dim=16, visual_aligned_dim=16, fused_dim=32, dropout=0.0, audio_chunk=7)
SHAPES = {"rgb": (24,), "logmfcc": (8, 20)}


def make_video(rng, T, points):
    return {"rgb": rng.random((T, 24), dtype=np.float32) * 2,
            "logmfcc": rng.random((T, 8, 20), dtype=np.float32),
            "points": np.asarray(points, dtype=np.int64).reshape(-1, 2)}


def collate(videos):
    T = max(len(v["rgb"]) for v in videos)
    B = len(videos)
    feats = {k: torch.zeros((B, T) + videos[0][k].shape[1:]) for k in ("rgb", "logmfcc")}
    mask = torch.zeros(B, T, dtype=torch.bool)
    dist = torch.zeros(B, 2)
    for b, v in enumerate(videos):
        L = len(v["rgb"])
        feats["rgb"][b, :L] = torch.from_numpy(v["rgb"])
        feats["logmfcc"][b, :L] = torch.from_numpy(v["logmfcc"])
        mask[b, :L] = True
        counts = np.bincount(v["points"][:, 1], minlength=2).astype(np.float32)
        dist[b] = torch.from_numpy(counts / max(counts.sum(), 1))
    return {"features": feats, "mask": mask, "lengths": mask.sum(1), "points": [v["points"] for v in videos],
            "label_distribution": dist, "vids": [f"v{b}" for b in range(B)], "fps": [25.0] * B}


@pytest.fixture
def setup():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    videos = [make_video(rng, 23, [[3, 1], [10, 0], [11, 1], [20, 1]]),
              make_video(rng, 9, [[0, 0], [8, 0]]),
              make_video(rng, 16, [[5, 1]])]
    method = TSLNetMethod(TSLNetModel(**SMALL), TSLNetLoss(), ModelSpec(SHAPES))
    return method, videos


def _run(method, batch, train):
    method.train(train)
    out = method(batch)
    loss, log = method.compute_loss(out, batch, step=0)
    return out, loss, log, method.scores(out, batch)


@pytest.mark.parametrize("train", [False, True])
def test_padded_batch_equals_one_video_at_a_time(setup, train):
    method, videos = setup
    state = {k: v.clone() for k, v in method.state_dict().items()}
    out, loss, _, scores = _run(method, collate(videos), train)
    batched_state = {k: v.clone() for k, v in method.state_dict().items()}
    method.load_state_dict(state)
    singles = []
    for b, v in enumerate(videos):
        o, l, _, s = _run(method, collate([v]), train)
        L = len(v["rgb"])
        for key in ("cas_sigmoid_fuse", "features", "a_fea", "cas_dis"):
            torch.testing.assert_close(out[key][b, :L], o[key][0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(scores["cas"][b, :L], s["cas"][0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(scores["video_scores"][b], s["video_scores"][0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(scores["actionness"][b, :L], s["actionness"][0], atol=1e-6, rtol=1e-5)
        singles.append(float(l.detach()))
    assert abs(float(loss.detach()) - np.mean(singles)) < 1e-5
    if train:  # running stats: one update per (video, chunk), in order, as sequential B=1 runs
        after = method.state_dict()
        for k in batched_state:
            if "running" in k or "num_batches" in k:
                torch.testing.assert_close(batched_state[k], after[k], atol=1e-6, rtol=1e-5)
        assert int(after["net.a_extractor.2.num_batches_tracked"]) == 4 + 2 + 3  # 23, 9, 16 snippets / 7


def test_loss_backward_is_finite_and_reaches_every_part(setup):
    method, videos = setup
    method.train()
    batch = collate(videos)
    loss, log = method.compute_loss(method(batch), batch, 0)
    loss.backward()
    assert np.isfinite(float(loss.detach()))
    for part in ("a_extractor", "v_align", "neck", "rev_fa", "rev_fv", "classifier", "distribution"):
        grads = [p.grad for p in getattr(method.net, part).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), part
    assert set(log) >= {"loss_total", "loss_vid_ldl", "loss_frame", "loss_frame_bkg",
                        "loss_frame_pact", "loss_recover_cpc", "pos_num", "neg_num"}


def test_contrastive_sign_flag(setup):
    method, videos = setup
    method.train()
    batch = collate(videos)
    out = method(batch)
    correct = method.contrastive(out)
    method.loss_cfg.official_contrastive_sign = True
    official = method.contrastive(out)
    torch.testing.assert_close(official, -correct)
    assert (official < 0).all()  # the official term is nce <= 0 (minus a logsumexp of T terms)


def test_audio_cnn_prefix_selects_exactly_the_audio_cnn(setup):
    method, _ = setup
    names = [n for n, _ in method.named_parameters() if n.startswith(AUDIO_CNN_PREFIX + ".")]
    assert len(names) == 5 * 2 + 3 * 2  # 5 convs (weight, bias) + 3 BatchNorms (weight, bias)
    assert sum(p.numel() for n, p in method.named_parameters() if n in names) == \
        sum(p.numel() for p in method.net.a_extractor.parameters())


def test_recipe_keys_are_validated():
    with pytest.raises(RecipeError, match="unknown key 'loss.lambda'"):
        recipe_from_dict({"method": "tsl_net", "loss": {"lambda": [2, 1, 0.5, 1]}})
    with pytest.raises(RecipeError, match="'loss.lambdas' must be a list of 4 values"):
        recipe_from_dict({"method": "tsl_net", "loss": {"lambdas": [2, 1]}})
    with pytest.raises(RecipeError, match="unknown key 'model.lambdas'"):  # each key in its own section
        recipe_from_dict({"method": "tsl_net", "model": {"lambdas": [2, 1, 0.5, 1]}})
    with pytest.raises(RecipeError, match="modality"):
        TSLNetMethod(TSLNetModel(), TSLNetLoss(), ModelSpec({"rgb": (1024,)}))


def test_official_parameter_count_through_the_method():
    method = TSLNetMethod(TSLNetModel(), TSLNetLoss(), ModelSpec({"rgb": (1024,), "logmfcc": (32, 60)}))
    assert sum(p.numel() for p in method.parameters()) == 91_342_592


def test_faithful_recipe_holds_the_official_defaults():
    from pathlib import Path

    from tsl300.postprocess import PostprocessParams
    from tsl300.recipes import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "tsl_net" / "tsl_net.yaml")
    assert recipe.method == "tsl_net"
    assert (recipe.model_config(), recipe.loss_config()) == (TSLNetModel(), TSLNetLoss())
    assert PostprocessParams.from_dict(recipe.postprocess) == PostprocessParams()
    assert recipe.optimizer.lr_multipliers == {AUDIO_CNN_PREFIX: 10.0}
    assert (recipe.optimizer.name, recipe.optimizer.lr, recipe.optimizer.weight_decay) == ("adam", 1e-5, 5e-4)
    assert (recipe.schedule.steps, recipe.batch_size) == (2000, 16)


def test_eval_audio_cnn_slicing_does_not_change_outputs(setup):
    method, videos = setup
    batch = collate(videos)
    method.eval()
    with torch.no_grad():
        whole = method(batch)["a_fea"]
        method.net.config.audio_cnn_batch = 5
        sliced = method(batch)["a_fea"]
    torch.testing.assert_close(whole, sliced)

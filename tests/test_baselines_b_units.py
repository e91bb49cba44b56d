"""BackTAL / RefineLoc / CASE pieces without golden cases: background clicks from segments,
padded batches equal single videos, the documented fixes, recipe validation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tsl300.data.types import Segment, Video
from tsl300.engine.batching import collate
from tsl300.methods.backtal import (background_gaps, click_label_tensor,
                                    derive_background_clicks)
from tsl300.methods.case import CASE
from tsl300.methods.refineloc import pseudo_foreground, single_label_target
from tsl300.methods.registry import ModelSpec, get_method
from tsl300.recipes import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SPEC = ModelSpec(modality_shapes={"rgb": (16,), "logmfcc": (32, 6)})


# ------------------------------------------------------------------------------ clicks
def test_baselines_b_background_gaps_cover_complement_of_segments():
    gaps = background_gaps(np.array([[3, 5], [9, 9], [10, 12]]), 16)
    assert gaps.tolist() == [[0, 2], [6, 8], [13, 15]]
    assert background_gaps(np.array([[0, 15]]), 16).tolist() == []
    assert background_gaps(np.zeros((0, 2), np.int64), 4).tolist() == [[0, 3]]


def test_baselines_b_clicks_one_per_gap_outside_segments_and_points():
    segments = np.array([[3, 5], [10, 12]])
    rng = np.random.default_rng(0)
    for _ in range(20):
        clicks = derive_background_clicks(segments, 16, rng, forbidden=np.array([1, 7]))
        assert len(clicks) == 3
        assert (0 <= clicks[0] <= 2) and (6 <= clicks[1] <= 9) and (13 <= clicks[2] <= 15)
        assert not set(clicks) & {1, 7}
    centre = derive_background_clicks(segments, 16, rng, mode="center")
    assert centre.tolist() == [1, 7, 14]  # gap middles (7 of 6..9: the lower of two)
    # a gap made only of forbidden snippets gives no click
    assert derive_background_clicks(np.array([[1, 14]]), 16, rng, "center",
                                    forbidden=np.array([0, 15])).tolist() == []
    with pytest.raises(ValueError):
        derive_background_clicks(segments, 16, rng, mode="edge")


def test_baselines_b_click_labels_layout():
    labels = click_label_tensor([np.array([0, 3]), np.array([], dtype=np.int64)], 5, num_classes=2)
    assert labels.tolist() == [[2, -100, -100, 2, -100], [-100] * 5]


# --------------------------------------------------------------- padded batch == one video
def _video(vid: str, T: int, seed: int) -> Video:
    rng = np.random.default_rng(seed)
    feats = {"rgb": rng.random((T, 16), dtype=np.float32),
             "logmfcc": rng.standard_normal((T, 32, 6)).astype(np.float32)}
    fps = 25.0
    return Video(vid=vid, fps=fps, features=feats, points=np.array([[T // 2, 1]]),
                 point_frames=np.array([T // 2 * 16]),
                 segments=[Segment(16 * (T // 2 - 2) / fps, 16 * (T // 2 + 3) / fps, "p")])


def _method(name: str, **model):
    cls = get_method(name)
    return cls(cls.ModelConfig(**model), cls.LossConfig(), SPEC).eval()


SMALL = {"backtal": dict(audio_dim=8, base_dim=12, hidden_dim=8, embed_dim=4),
         "refineloc": dict(audio_dim=8), "case": dict(audio_dim=8, hidden=8, num_clusters=4)}


@pytest.mark.parametrize("name", ["backtal", "refineloc", "case"])
def test_baselines_b_padded_batch_equals_single_videos(name):
    torch.manual_seed(0)
    method = _method(name, **SMALL[name])
    videos = [_video("a", 23, 1), _video("b", 40, 2)]
    with torch.no_grad():
        together = method.scores(method(collate(videos, ["rgb", "logmfcc"], ("n", "p"))),
                                 collate(videos, ["rgb", "logmfcc"], ("n", "p")))
        for i, video in enumerate(videos):
            alone_batch = collate([video], ["rgb", "logmfcc"], ("n", "p"))
            alone = method.scores(method(alone_batch), alone_batch)
            t = video.num_snippets
            for key, value in alone.items():
                got = together[key][i, :t] if value.dim() > 1 and key != "video_scores" else together[key][i]
                torch.testing.assert_close(got, value[0, :t] if value.dim() > 1 and key != "video_scores"
                                           else value[0], rtol=1e-4, atol=1e-5, msg=f"{name} {key}")


@pytest.mark.parametrize("name", ["backtal", "refineloc", "case"])
def test_baselines_b_loss_is_finite_and_backpropagates(name):
    torch.manual_seed(0)
    method = _method(name, **SMALL[name]).train()
    batch = collate([_video("a", 23, 1), _video("b", 40, 2)], ["rgb", "logmfcc"], ("n", "p"))
    loss, terms = method.compute_loss(method(batch), batch, step=0)
    assert torch.isfinite(loss) and all(np.isfinite(v) for v in terms.values())
    loss.backward()
    grads = [p.grad for p in method.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_baselines_b_backtal_needs_segments_for_clicks():
    method = _method("backtal", **SMALL["backtal"]).train()
    video = _video("a", 20, 1)
    video.segments = []
    batch = collate([video], ["rgb", "logmfcc"], ("n", "p"))
    with pytest.raises(Exception, match="has ground-truth segments"):
        method.compute_loss(method(batch), batch, step=0)
    # beside a video with segments, a segment-less one is background throughout: one click
    batch = collate([_video("b", 30, 2), video], ["rgb", "logmfcc"], ("n", "p"))
    method.compute_loss(method(batch), batch, step=0)
    assert len(method._clicks["a"]) == 1 and method._clicks["a"][0] != video.points[0, 0]


def test_baselines_b_case_state_updates_only_in_training():
    torch.manual_seed(0)
    method = _method("case", **SMALL["case"])
    batch = collate([_video("a", 23, 1), _video("b", 40, 2)], ["rgb", "logmfcc"], ("n", "p"))
    before = method.cls_gt.clone()
    method.eval()
    method.compute_loss(method(batch), batch, step=-1)
    assert torch.equal(method.cls_gt, before)
    method.train()
    method.compute_loss(method(batch), batch, step=0)
    assert not torch.equal(method.cls_gt, before)
    assert "cls_gt" in method.state_dict()   # saved with the weights, used at inference


def test_baselines_b_case_needs_two_streams():
    spec = ModelSpec(modality_shapes={"rgb": (16,)})
    with pytest.raises(ValueError, match="two streams"):
        CASE(CASE.ModelConfig(), CASE.LossConfig(), spec)


# ------------------------------------------------------------------------- RefineLoc bits
def test_baselines_b_refineloc_single_label_quirk_and_fix():
    labels = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    assert single_label_target(labels, True).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert single_label_target(labels, False).tolist() == [[0.5, 0.5], [0.0, 1.0]]


def test_baselines_b_refineloc_reset_changes_every_layer():
    torch.manual_seed(0)
    method = _method("refineloc", **SMALL["refineloc"])
    before = {k: v.clone() for k, v in method.state_dict().items() if v.dtype.is_floating_point}
    method.reset_weights()
    after = method.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k]) and "running" not in k]
    weights = [k for k in before if k.endswith("weight") and "norm" not in k]
    assert set(weights) <= set(changed)


def test_baselines_b_refineloc_own_detections_through_engine():
    from tsl300.engine.inference import predict

    torch.manual_seed(0)
    method = _method("refineloc", **SMALL["refineloc"], min_cas=0.0, min_attention=0.0)
    videos = [_video("a", 23, 1)]
    preds = predict(method, videos, ["rgb", "logmfcc"], ("n", "p"), {})
    # every snippet passes: one detection per top class covering the whole video
    assert len(preds["a"]) == 2
    assert all(s.start == 0.0 and s.end == pytest.approx(23 * 16 / 25) for s in preds["a"])


def test_baselines_b_pseudo_foreground_clipped_to_video():
    det = {"t-start": 0.0, "t-end": 20 * 16 / 25}
    assert pseudo_foreground([det], 10, 25.0).tolist() == [1] * 10


# ------------------------------------------------------------------------------ recipes
@pytest.mark.parametrize("path", sorted(str(p.relative_to(RECIPES)) for d in ("backtal", "refineloc", "case")
                                        for p in (RECIPES / d).glob("*.yaml")))
def test_baselines_b_recipes_validate(path):
    recipe = load_recipe(RECIPES / path)
    assert recipe.method in ("backtal", "refineloc", "case")
    assert (RECIPES / path).parent.joinpath("README.md").exists()

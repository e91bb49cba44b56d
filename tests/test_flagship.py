"""Flagship parts: the N-modality consensus module (its match with CO2-Net's official CCM is
tested in test_golden_co2net.py), the light encoders, and the flagship's loss terms."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_tsl300 import make_videos
from tsl300.engine.batching import collate
from tsl300.errors import RecipeError
from tsl300.methods.registry import ModelSpec, build_method
from tsl300.models.consensus import ConcatFusion, ConsensusFusion
from tsl300.models.encoders import LightMelEncoder, VectorEncoder, build_encoder
from tsl300.recipes import _merge, _resolve, recipe_from_dict

CLASSES = ("n", "p")


def _features(dims, B, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.rand(B, d, T, generator=g) for m, d in dims.items()}


def test_consensus_three_modalities_widths_and_missing_mask():
    dims = {"rgb": 24, "audio": 16, "text": 8}
    torch.manual_seed(0)
    fusion = ConsensusFusion(dims, attention_hidden=8).eval()
    feats = _features(dims, 3, 10)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[2, 7:] = False
    present = {m: torch.ones(3, dtype=torch.bool) for m in dims}
    present["audio"][1] = False
    out = fusion(feats, mask, present)
    assert out["fused"].shape == (3, 48, 10) and fusion.out_dim == 48
    assert all(out["attentions"][m].shape == (3, 10) for m in dims)
    assert out["filtered"]["audio"][1].abs().sum() == 0  # a missing modality contributes nothing
    # the fused attention of video 1 averages the two present modalities only
    expected = (out["attentions"]["rgb"][1] + out["attentions"]["text"][1]) / 2
    assert torch.allclose(out["attention"][1], expected)
    # padding never leaks: video 2's real snippets equal its unpadded forward
    alone = fusion({m: f[2:3, :, :7] for m, f in feats.items()}, mask[2:3, :7], {m: p[2:3] for m, p in present.items()})
    assert torch.allclose(alone["attention"][0], out["attention"][2, :7], atol=1e-6)
    # missing audio changes the other modalities' gates (no local context from it)
    full = fusion(feats, mask, {m: torch.ones(3, dtype=torch.bool) for m in dims})
    assert not torch.allclose(full["filtered"]["rgb"][1], out["filtered"]["rgb"][1])
    assert torch.allclose(full["filtered"]["rgb"][0], out["filtered"]["rgb"][0])


def test_max_attention_fusion_keeps_a_one_modality_cue():
    dims = {"a": 4, "b": 4}
    torch.manual_seed(0)
    mean_fusion = ConsensusFusion(dims, attention_hidden=4).eval()
    max_fusion = ConsensusFusion(dims, attention_hidden=4, attention_fusion="max").eval()
    max_fusion.load_state_dict(mean_fusion.state_dict())
    feats, mask = _features(dims, 2, 6), torch.ones(2, 6, dtype=torch.bool)
    present = {"a": torch.ones(2, dtype=torch.bool), "b": torch.tensor([True, False])}
    out_mean, out_max = mean_fusion(feats, mask, present), max_fusion(feats, mask, present)
    both = torch.stack([out_max["attentions"]["a"][0], out_max["attentions"]["b"][0]])
    assert torch.allclose(out_max["attention"][0], both.amax(0))
    assert torch.allclose(out_mean["attention"][0], both.mean(0))
    assert torch.allclose(out_max["attention"][1], out_max["attentions"]["a"][1])  # b missing
    joint = ConsensusFusion(dims, attention_hidden=4, attention_fusion="joint").eval()
    out_joint = joint(feats, mask, present)
    assert out_joint["attention"].shape == (2, 6) and set(out_joint["attentions"]) == {"a", "b"}
    assert torch.allclose(out_joint["attention"], joint.joint_attention(out_joint["fused"], mask))
    with pytest.raises(ValueError, match="attention_fusion"):
        ConsensusFusion(dims, attention_fusion="median")


def test_single_modality_is_gated_by_its_global_context():
    torch.manual_seed(0)
    fusion = ConsensusFusion({"rgb": 6}, attention_hidden=4).eval()
    x = _features({"rgb": 6}, 1, 5)["rgb"]
    out = fusion({"rgb": x}, torch.ones(1, 5, dtype=torch.bool), {"rgb": torch.ones(1, dtype=torch.bool)})
    g = torch.nn.functional.leaky_relu(fusion.global_context["rgb"](x.mean(-1)), 0.2)
    assert torch.allclose(out["filtered"]["rgb"], torch.sigmoid(g)[..., None] * x, atol=1e-6)


def test_concat_fusion_shapes():
    fusion = ConcatFusion({"a": 4, "b": 6}, attention_hidden=4)
    out = fusion(_features({"a": 4, "b": 6}, 2, 5), torch.ones(2, 5, dtype=torch.bool),
                 {"a": torch.ones(2, dtype=torch.bool), "b": torch.tensor([True, False])})
    assert out["fused"].shape == (2, 10, 5) and out["attention"].shape == (2, 5)
    assert out["fused"][1, 4:].abs().sum() == 0


def test_encoders_shapes_and_padding():
    torch.manual_seed(0)
    mel = build_encoder((32, 60), 16).eval()
    vec = build_encoder((20,), 16).eval()
    assert isinstance(mel, LightMelEncoder) and isinstance(vec, VectorEncoder)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    x = torch.rand(2, 6, 32, 60)
    out = mel(x, mask)
    assert out.shape == (2, 16, 6) and out[1, :, 4:].abs().sum() == 0
    alone = mel(x[1:, :4], mask[1:, :4])
    assert torch.allclose(alone[0], out[1, :, :4], atol=1e-6)
    assert vec(torch.rand(2, 6, 20), mask).shape == (2, 16, 6)
    with pytest.raises(ValueError, match="no encoder"):
        build_encoder((2, 3, 4), 8)


FLAGSHIP = Path(__file__).resolve().parents[1] / "recipes" / "tsl300" / "flagship.yaml"


def _method(model=None, **loss):
    """The shipped recipe (recipes/tsl300/flagship.yaml, full size), with ``model``/``loss`` changes."""
    data = _merge(_resolve(FLAGSHIP), {"model": model or {}, "loss": loss})
    torch.manual_seed(0)
    return build_method(recipe_from_dict(data, "test"), ModelSpec({"rgb": (16,), "logmfcc": (32, 60)}, CLASSES))


@pytest.fixture(scope="module")
def batch():
    videos = [v for v in make_videos(n_train=4, n_test=0, seed=1, rgb_dim=16, t_range=(30, 50))]
    return collate(videos, ["rgb", "logmfcc"], CLASSES)


def test_flagship_loss_terms_and_gradients(batch):
    method = _method()
    outputs = method(batch)
    assert outputs["probs"].shape[-1] == 3
    total, terms = method.compute_loss(outputs, batch, step=0)
    assert set(terms) == {"ldl", "point", "background", "pseudo_action", "mil", "mutual", "norm", "opposite",
                          "contrastive"}
    assert torch.isfinite(total) and all(np.isfinite(v) for v in terms.values())
    assert terms["contrastive"] > 0  # correct-sign InfoNCE is a positive loss
    total.backward()
    for name in ("encoders.rgb.block.project.weight", "encoders.logmfcc.block.project.weight",
                 "fusion.global_context.rgb.weight", "distribution.weight", "reverse.rgb.weight"):
        grad = dict(method.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    with torch.no_grad():
        scores = method.eval().scores(method(batch), batch)
    assert scores["cas"].shape == batch["mask"].shape + (2,) and scores["video_scores"].shape == (4, 2)
    assert float(scores["cas"].min()) >= 0 and float(scores["cas"].max()) <= 1


def test_flagship_skip_features_widen_the_neck(batch):
    method = _method({"skip_features": True, "attention_fusion": "max"})
    assert method.neck.in_channels == 2 * (2 * 128)
    assert _method({"skip_features": False}).neck.in_channels == 2 * 128
    total, _ = method.compute_loss(method(batch), batch, 0)
    assert torch.isfinite(total)


def test_flagship_switches(batch):
    off = _method(ldl=0.0, mutual=0.0, contrastive=0.0, pseudo=0.0)
    _, terms = off.compute_loss(off(batch), batch, 0)
    assert not {"ldl", "mutual", "contrastive", "background", "pseudo_action"} & set(terms)
    hard, smooth = _method(label_smoothing=0.0), _method(label_smoothing=0.1)
    torch.manual_seed(0)
    hard.eval(), smooth.eval()
    _, t_hard = hard.compute_loss(hard(batch), batch, 0)
    _, t_smooth = smooth.compute_loss(smooth(batch), batch, 0)
    assert t_hard["point"] != pytest.approx(t_smooth["point"])
    official = _method(contrastive_official_sign=True).eval()
    correct = _method().eval()
    _, t_off = official.compute_loss(official(batch), batch, 0)
    _, t_cor = correct.compute_loss(correct(batch), batch, 0)
    assert t_off["contrastive"] == pytest.approx(-t_cor["contrastive"], rel=1e-5)


def test_standardize_per_video_uses_only_real_snippets():
    from tsl300.models.encoders import standardize_per_video

    g = torch.Generator().manual_seed(0)
    a = torch.randn(1, 7, 3, generator=g) * 5 + 10   # a loud video
    b = torch.randn(1, 4, 3, generator=g) * 0.1 - 2  # a quiet one, padded to 7 below
    x = torch.cat([a, torch.cat([b, torch.full((1, 3, 3), 99.0)], dim=1)])
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    out = standardize_per_video(x, mask)
    alone = standardize_per_video(b, torch.ones(1, 4, dtype=torch.bool))
    assert torch.allclose(out[1, :4], alone[0], atol=1e-6)
    assert torch.all(out[1, 4:] == 0)
    for row in (out[0], out[1, :4]):
        assert torch.allclose(row.mean(0), torch.zeros(3), atol=1e-5)
        assert torch.allclose(row.pow(2).mean(0), torch.ones(3), atol=3e-3)  # eps in the std


def test_flagship_input_norm_is_validated():
    spec = ModelSpec({"rgb": (8,), "logmfcc": (32, 60)}, CLASSES)
    recipe = recipe_from_dict({"method": "flagship", "model": {"hidden": 8, "attention_hidden": 4,
                                                              "fusion_hidden": 8, "input_norm": "speaker"}})
    with pytest.raises(RecipeError, match="input_norm"):
        build_method(recipe, spec)


# ---------------------------------------------------------------- issue 12 bugs 2, 3, 4


def _with_missing_audio(batch, video: int = 1):
    """``batch`` with ``video``'s logmfcc absent (zero-filled, as the loaders write it)."""
    out = dict(batch)
    out["features"] = {k: v.clone() for k, v in batch["features"].items()}
    out["features"]["logmfcc"][video] = 0.0
    out["modality_mask"] = {k: v.clone() for k, v in batch["modality_mask"].items()}
    out["modality_mask"]["logmfcc"][video] = False
    return out


def test_coupled_attention_depends_on_the_modality_attention_units(batch):
    """Bug 2: with ``attention_fusion: joint_mean`` the fused attention (and so the output) is
    built from the per-modality attention units, which the mutual term ties to the joint unit."""
    method = _method({"attention_fusion": "joint_mean"}).eval()
    with torch.no_grad():
        before = method(batch)
        method.fusion.attention["rgb"].out.bias += 1.0
        after = method(batch)
    assert not torch.allclose(before["probs"], after["probs"])
    assert (after["attention"] - before["attention"]).abs().max() > 1e-3
    # A = mean of the joint unit and the modality attentions of the modalities a video has
    present = _with_missing_audio(batch)
    with torch.no_grad():
        out = method(present)
    expected = (out["joint_attention"][1] + out["attentions"]["rgb"][1]) / 2 * present["mask"][1]
    assert torch.allclose(out["attention"][1], expected, atol=1e-6)
    # the joint attention takes part in mutual learning: detaching it from the pairs changes the term
    _, coupled = method.compute_loss(before, batch, 0)
    uncoupled = dict(before, joint_attention=None)
    _, alone = method.compute_loss(uncoupled, batch, 0)
    assert coupled["mutual"] != pytest.approx(alone["mutual"])


def test_missing_modality_stays_out_of_batchnorm_statistics(batch):
    """Bug 3: a video without audio must not pull the log-mel BatchNorm statistics to zero."""
    with_missing = _method().train()
    with_missing(_with_missing_audio(batch, video=1))
    present_only = _method().train()  # the same fresh weights, fed the three videos that have audio
    keep = [0, 2, 3]
    present_only.encoders["logmfcc"](batch["features"]["logmfcc"][keep], batch["mask"][keep])
    got, want = with_missing.encoders["logmfcc"].norm.norm, present_only.encoders["logmfcc"].norm.norm
    assert not torch.allclose(want.running_mean, torch.zeros_like(want.running_mean))
    assert torch.allclose(got.running_mean, want.running_mean, atol=1e-6)
    assert torch.allclose(got.running_var, want.running_var, atol=1e-5)


def test_batchnorm_with_no_present_rows_uses_running_statistics():
    from tsl300.models.encoders import MaskedBatchNorm

    norm = MaskedBatchNorm(3).train()
    x = torch.rand(2, 4, 3)
    out = norm(x, torch.zeros(2, 4, dtype=torch.bool))  # every video lacks the modality
    assert out.abs().sum() == 0 and torch.equal(norm.norm.running_mean, torch.zeros(3))
    one = torch.zeros(2, 4, dtype=torch.bool)
    one[0, 0] = True  # a single present row has no batch variance: normalised with running statistics
    out = norm(x, one)
    assert torch.allclose(out[0, 0], x[0, 0] / (1 + 1e-5) ** 0.5) and out[1].abs().sum() == 0


def test_attention_norm_ignores_a_missing_modality(batch):
    """Bug 3: the attention-norm term leaves out the attention of a modality a video lacks."""
    method = _method().eval()
    missing = _with_missing_audio(batch, video=1)
    with torch.no_grad():
        outputs = method(missing)
    norms = []
    for value in (0.0, 1.0):
        audio = outputs["attentions"]["logmfcc"].clone()
        audio[1] = value  # whatever the absent modality's unit says
        _, terms = method.compute_loss(dict(outputs, attentions=dict(outputs["attentions"], logmfcc=audio)),
                                       missing, 0)
        norms.append(terms["norm"])
    assert norms[0] == pytest.approx(norms[1], abs=1e-7)


def test_window_without_points_adds_no_video_level_loss(batch):
    """Bug 4: a training window holding no point has unknown video labels (all zero after the
    crop), so it must not be trained as pure background by the MIL and LDL terms."""
    from tsl300.engine.batching import crop_video

    videos = [v for v in make_videos(n_train=2, n_test=0, seed=1, rgb_dim=16, t_range=(30, 50))]
    first = videos[1].points[0, 0]
    assert first >= 2
    window = crop_video(videos[1], 0, int(first))  # the snippets before the first point
    assert len(window.points) == 0
    method = _method().eval()
    with torch.no_grad():
        alone = collate(videos[:1], ["rgb", "logmfcc"], CLASSES)
        _, t_alone = method.compute_loss(method(alone), alone, 0)
        both = collate([videos[0], window], ["rgb", "logmfcc"], CLASSES)
        _, t_both = method.compute_loss(method(both), both, 0)
    assert t_both["mil"] == pytest.approx(t_alone["mil"], rel=1e-5)
    assert t_both["ldl"] == pytest.approx(t_alone["ldl"], rel=1e-5)
    # the behaviour before the fix, kept as a flag: the window counts as pure background
    old = _method(pointless_windows="background").eval()
    with torch.no_grad():
        _, t_old = old.compute_loss(old(both), both, 0)
    assert t_old["mil"] != pytest.approx(t_alone["mil"], rel=1e-3)
    with pytest.raises(RecipeError, match="pointless_windows"):
        _method(pointless_windows="ignore")

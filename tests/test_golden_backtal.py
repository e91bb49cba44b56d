"""BackTAL's distinctive parts against the official code's golden cases
(``golden/backtal``: affinity convolution, every loss term and its gradients)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import golden_names, shared_path
from tsl300.methods.backtal import (BackTALLossConfig, affinity_conv1d, backtal_loss,
                                    foreground_counts, neighbour_similarity, topk_mean)


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "backtal", name).read_text())


def _t(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(np.asarray(values), dtype=dtype)


def _conv_cases():
    return _load("attention_conv1d.json")["cases"]


def _loss_cases():
    return _load("losses.json")["cases"]


@pytest.fixture(scope="module")
def conv_cases():
    return {c["name"]: c for c in _conv_cases()}


@pytest.fixture(scope="module")
def loss_cases():
    return {c["name"]: c for c in _loss_cases()}


CONV_NAMES = golden_names("backtal", "attention_conv1d.json")
LOSS_NAMES = golden_names("backtal", "losses.json")


@pytest.mark.parametrize("name", CONV_NAMES)
def test_golden_backtal_affinity_conv_official_layout(conv_cases, name):
    case = conv_cases[name]
    feature, embedding, weight = _t(case["feature"]), _t(case["embedding"]), _t(case["weight"])
    torch.testing.assert_close(neighbour_similarity(embedding), _t(case["similarity"]),
                               atol=1e-5, rtol=0)
    out = affinity_conv1d(feature, embedding, weight, layout="official")
    torch.testing.assert_close(out, _t(case["out"]), atol=1e-5, rtol=0)


def test_golden_backtal_tap_layout_differs_and_matches_per_tap_conv(conv_cases):
    """The documented fix is a real difference from the golden output, and equals a per-tap
    similarity-weighted ordinary convolution."""
    case = conv_cases["B2_Cin6_Cout4_T10"]
    feature, embedding, weight = _t(case["feature"]), _t(case["embedding"]), _t(case["weight"])
    tap = affinity_conv1d(feature, embedding, weight, layout="tap")
    assert (tap - _t(case["out"])).abs().max() > 1e-2
    sim = neighbour_similarity(embedding)
    padded = torch.nn.functional.pad(feature, (1, 1))
    expected = sum(torch.einsum("oc,bct->bot", weight[:, :, k], padded[..., k:k + feature.shape[-1]])
                   * sim[:, k:k + 1] for k in range(3))
    torch.testing.assert_close(tap, expected, atol=1e-5, rtol=1e-5)


def _loss_inputs(case, requires_grad=False):
    floats = {k: _t(case["inputs"][k]).requires_grad_(requires_grad)
              for k in ("score_base", "cas_base", "score_supp", "cas_supp", "embedding",
                        "fore_weights")}
    label = _t(case["inputs"]["label"])
    click = _t(case["inputs"]["click_label"], torch.long)
    return floats, label, click


def _run_loss(case, floats, label, click, trace=None):
    cfg = case["config"]
    config = BackTALLossConfig(w_norm=cfg["C_LOSS_NORM"], w_separation=cfg["C_LOSS_TOPK_BG"],
                               w_embedding=cfg["C_LOSS_EMBEDDING"],
                               th_similar_min=cfg["TH_SIMILAR_MIN"],
                               th_different_max=cfg["TH_DIFFERENT_MAX"])
    separation_fg = None
    if case["dataset_config"] != "THUMOS14":
        separation_fg = topk_mean(floats["cas_base"], cfg["k_for_topk_bg_loss"])
    return backtal_loss(floats["score_base"], floats["cas_base"], floats["score_supp"],
                        floats["cas_supp"], floats["embedding"], floats["fore_weights"], label,
                        click, cfg["k"], config, separation_fg=separation_fg, trace=trace)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_golden_backtal_loss_terms(loss_cases, name):
    case = loss_cases[name]
    floats, label, click = _loss_inputs(case)
    terms = _run_loss(case, floats, label, click)
    for key, expected in case["terms"].items():
        if key == "score_base_tmp":
            continue
        assert terms[key].item() == pytest.approx(expected, rel=1e-5, abs=0), key  # README: rtol 1e-5


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_golden_backtal_per_video_intermediates(loss_cases, name):
    """The embedding loss's hardest similarities and four hinge terms, and the separation loss's
    per-class values, video by video (README: rtol 1e-5; indices exact)."""
    case = loss_cases[name]
    floats, label, click = _loss_inputs(case)
    trace: dict = {}
    _run_loss(case, floats, label, click, trace)
    emb, sep = trace["embedding"], trace["separation"]
    expected_videos = [v["video"] for v in case["embedding_loss_per_video"]]
    assert torch.nonzero(emb["has"]).flatten().tolist() == expected_videos
    assert sum(bool(h) for h in emb["has"]) == case["embedding_num_batch_dynamic"]
    for video in case["embedding_loss_per_video"]:
        b = video["video"]
        assert torch.nonzero(click[b] == case["C"]).flatten().tolist() == video["bg_indices"]
        rows = {"fg": video["fg_indices"], "bg": video["bg_indices"]}
        for key in ("sim_fg2fg_hard", "sim_fg2bg_hard", "sim_bg2bg_hard", "sim_bg2fg_hard"):
            got = emb[key][b, rows[key[4:6]]]
            np.testing.assert_allclose(got.numpy(), video[key], rtol=1e-5, atol=0, err_msg=f"{name} {b} {key}")
        for key in ("loss_fg2fg", "loss_bg2bg", "loss_fg2bg", "loss_bg2fg"):
            assert emb[key][b].item() == pytest.approx(video[key], rel=1e-5, abs=0), (name, b, key)
    for video, mean in zip(case["separation_per_video"], case["separation_video_means"]):
        b = video["video"]
        assert torch.nonzero(label[b]).flatten().tolist() == video["classes"]
        np.testing.assert_allclose(sep["per_class"][b, video["classes"]].numpy(), video["per_class"], rtol=1e-5,
                                   err_msg=f"{name} {b}")
        assert sep["per_video"][b].item() == pytest.approx(mean, rel=1e-5)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_golden_backtal_loss_gradients(loss_cases, name):
    case = loss_cases[name]
    floats, label, click = _loss_inputs(case, requires_grad=True)
    _run_loss(case, floats, label, click)["loss_total"].backward()
    for key, expected in case["grad_total_wrt_inputs"].items():
        expected = _t(expected)
        got = floats[key].grad if floats[key].grad is not None else torch.zeros_like(expected)
        tol = 1e-5 * max(expected.abs().max().item(), 1e-12)
        assert (got - expected).abs().max().item() <= tol + 1e-9, key


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_golden_backtal_foreground_indices_keep_duplicates(loss_cases, name):
    """The embedding loss's foreground set: top-k of cas_supp per GT class, duplicates kept."""
    case = loss_cases[name]
    floats, label, _ = _loss_inputs(case)
    counts = foreground_counts(floats["cas_supp"], label, case["config"]["k"])
    for video in case["embedding_loss_per_video"]:
        expected = np.bincount(video["fg_indices"], minlength=case["T"])
        np.testing.assert_array_equal(counts[video["video"]].numpy().astype(int), expected)


def test_golden_backtal_anet_separation_foreground(loss_cases):
    case = loss_cases["anet_B2_T100_C4"]
    if "score_base_tmp" not in case["terms"]:
        pytest.skip("golden case has no score_base_tmp")
    floats, _, _ = _loss_inputs(case)
    got = topk_mean(floats["cas_base"], case["config"]["k_for_topk_bg_loss"])
    torch.testing.assert_close(got, _t(case["terms"]["score_base_tmp"]), rtol=1e-5, atol=1e-6)


def test_golden_backtal_video_scores_are_topk_means(loss_cases):
    case = loss_cases["thumos_B3_T40_C2"]
    floats, _, _ = _loss_inputs(case)
    torch.testing.assert_close(topk_mean(floats["cas_base"], case["config"]["k"]),
                               floats["score_base"], rtol=1e-5, atol=1e-6)

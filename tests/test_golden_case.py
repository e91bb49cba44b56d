"""CASE's distinctive parts against the official code's golden cases (``golden/case``:
Sinkhorn OT, every loss term of chained training steps with gradients, the network wiring)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from conftest import golden_names, shared_path
from tsl300.methods.case import (CASELossConfig, CASENet, case_losses, initial_cls_gt,
                                 sinkhorn_ot)


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "case", name).read_text())


def _t(x, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(np.asarray(x), dtype=dtype)


def test_golden_case_sinkhorn_ot():
    data = _load("sinkhorn_ot.json")
    assert len(data["cases"]) >= 7
    for case in data["cases"]:
        prior = 1.0 if case["T"] is None else _t(case["T"])
        beta = None if case["beta"] is None else _t(case["beta"])
        q = sinkhorn_ot(_t(case["out"]), prior, beta, temp=data["temp"], eps=data["eps"],
                        iterations=data["iterations"])
        torch.testing.assert_close(q, _t(case["Q"]), rtol=1e-5, atol=1e-7, msg=case["name"])
        torch.testing.assert_close(q.sum(1), torch.ones(q.shape[0]), rtol=1e-5, atol=1e-5)


INPUT_KEYS = ("cas_flow", "cas_rgb", "att_flow", "att_rgb", "clu_flow", "clu_rgb", "base_flow",
              "base_rgb")
SCALARS = ("vid_loss", "att_loss_flow", "att_loss_rgb", "clu_loss", "cls_loss",
           "cost_before_clu_cls", "total_loss")
ARRAYS = ("combined_cas", "cas_top_flow", "cas_top_rgb", "att_gt", "prior_T", "clu", "clu_gt",
          "proto_clu_rgb", "proto_clu_flow", "proto_att_rgb", "proto_att_flow", "cls_rgb",
          "cls_flow", "cls", "beta", "cls_gt")


def _case_ids():
    return golden_names("case", "training_step.json")


@pytest.fixture(scope="module")
def training_cases():
    return {c["name"]: c for c in _load("training_step.json")["cases"]}


@pytest.mark.parametrize("name", _case_ids())
def test_golden_case_training_step_terms_and_gradients(training_cases, name):
    case = training_cases[name]
    state = None
    for i, step in enumerate(case["steps"]):
        state_in = _t(step["cls_gt_state_in"])
        if i == 0 and name.endswith("_init"):
            torch.testing.assert_close(state_in, initial_cls_gt(case["K"]))
        if state is not None:  # chained steps: the stored state is the previous step's cls_gt
            torch.testing.assert_close(state, state_in, rtol=1e-5, atol=1e-6)
        inputs = {k: _t(step["inputs"][k]).requires_grad_(True) for k in INPUT_KEYS}
        res = case_losses(inputs, _t(step["inputs"]["label"]), state_in, CASELossConfig())
        exp = step["outputs"]
        for key in SCALARS:
            assert res[key].item() == pytest.approx(exp[key], rel=1e-5, abs=1e-6), (name, i, key)
        for key in ARRAYS:
            torch.testing.assert_close(res[key].detach().reshape(np.shape(exp[key])),
                                       _t(exp[key]), rtol=1e-5, atol=1e-6, msg=f"{name} {i} {key}")
        np.testing.assert_array_equal(res["rank"].numpy().astype(np.int64), exp["rank"])
        # top-k index sets per (video, class)
        topk = np.asarray(exp["topk_indices"])                        # (B, k, C)
        for b in range(topk.shape[0]):
            for c in range(topk.shape[2]):
                assert set(np.flatnonzero(res["in_topk"][b, :, c].numpy())) == set(topk[b, :, c])
        res["total_loss"].backward()
        for key in INPUT_KEYS:
            expected = _t(step["grad_total_wrt_inputs"][key])
            got = inputs[key].grad if inputs[key].grad is not None else torch.zeros_like(expected)
            tol = 1e-5 * max(expected.abs().max().item(), 1e-12)
            assert (got - expected).abs().max().item() <= tol + 1e-9, (name, i, key)
        state = res["cls_gt"].detach()


def test_golden_case_rank_fix_is_a_real_option(training_cases):
    """The documented fix changes the prior (true ranks instead of argsort indices)."""
    step = training_cases["B2_T48_C2_init"]["steps"][0]
    inputs = {k: _t(step["inputs"][k]) for k in INPUT_KEYS}
    label, state = _t(step["inputs"]["label"]), _t(step["cls_gt_state_in"])
    quirk = case_losses(inputs, label, state, CASELossConfig())
    fixed = case_losses(inputs, label, state, CASELossConfig(rank_fix=True))
    att = (0.5 * inputs["att_rgb"] + 0.5 * inputs["att_flow"]).reshape(-1)
    expected_rank = torch.empty(att.numel(), dtype=torch.long)
    expected_rank[torch.argsort(-att)] = torch.arange(att.numel())
    np.testing.assert_array_equal(fixed["rank"].numpy(), expected_rank.numpy())
    assert not torch.equal(quirk["prior_T"], fixed["prior_T"])


def test_golden_case_model_forward_fixed_weights():
    z = np.load(shared_path("golden", "case", "model_forward.npz"))
    x = torch.from_numpy(z["input"])
    half = x.shape[-1] // 2
    net = CASENet(rgb_dim=half, flow_dim=half, num_classes=z["output/cas_rgb"].shape[-1],
                  num_clusters=z["output/clu_rgb"].shape[-1])
    rename = {"cas_module_{s}.0": "{s}.cas.0", "cas_module_{s}.2": "{s}.cas.2",
              "base_module_{s}.0": "{s}.base.0", "att_module_{s}": "{s}.att",
              "clu_head_{s}.prototypes": "{s}.cluster.prototypes"}
    state = {}
    for key in z.files:
        if not key.startswith("weight/"):
            continue
        name = key[len("weight/"):]
        for official, ours in rename.items():
            for s in ("rgb", "flow"):
                prefix = official.format(s=s)
                if name.startswith(prefix + "."):
                    state[ours.format(s=s) + name[len(prefix):]] = torch.from_numpy(z[key])
    net.load_state_dict(state, strict=True)
    net.train()
    out = net(x[..., :half], x[..., half:])
    for key in ("cas_flow", "cas_rgb", "att_flow", "att_rgb", "clu_flow", "clu_rgb",
                "base_flow", "base_rgb"):
        np.testing.assert_allclose(out[key].detach().numpy(), z[f"output/{key}"], atol=1e-5,
                                   err_msg=key)
    rows = net.rgb.cluster.prototypes.weight.norm(dim=1)
    torch.testing.assert_close(rows, torch.ones_like(rows))  # normalised in place, as official


def test_golden_case_inference_postprocess():
    """Fused score and video score from the network outputs, then the official proposals
    through the shared post-processing with CASE's settings (BaS-Net soft NMS, gamma in the
    lambda slot). Per class, the segments come in the official order."""
    from tsl300.methods.case import combined_score, official_postprocess_params, topk_selection, video_scores
    from tsl300.postprocess import select_classes, video_proposals

    data = _load("inference.json")
    n_checked = 0
    for video in data["videos"]:
        out = {k: _t(video[k])[None] for k in ("cas_flow", "cas_rgb", "clu_flow", "clu_rgb")}
        out["att_flow"], out["att_rgb"] = _t(video["att_flow"])[None, None], _t(video["att_rgb"])[None, None]
        combined = combined_score(out, _t(video["cls_gt"]))
        torch.testing.assert_close(combined[0], _t(video["combined_cas"]), rtol=1e-5, atol=1e-7)
        score = video_scores(out, combined)[0]
        torch.testing.assert_close(score, _t(video["score_supp"]), rtol=1e-5, atol=1e-7)
        golden_combined = np.asarray(video["combined_cas"], dtype=np.float32)
        golden_score = np.asarray(video["score_supp"], dtype=np.float32)
        # the top-k (k = T//8) snippets behind score_supp: the set in each class column (README)
        k = video["T"] // 8
        _, in_topk = topk_selection(_t(golden_combined)[None], torch.tensor([k]), None)
        topk = np.asarray(video["topk_indices"])  # (k, C)
        assert topk.shape == (k, video["C"])
        for c in range(video["C"]):
            assert set(np.flatnonzero(in_topk[0, :, c].numpy())) == set(topk[:, c].tolist()), (video["video_id"], c)
        assert select_classes(golden_score, 0.25).tolist() == video["selected_classes"]
        names = [data["constants"]["class_names"][str(c)] for c in range(video["C"])]
        params = official_postprocess_params(names)
        fps = 25.0 * video["T"] / video["vid_num_seg"]   # the official 25 fps on the original grid
        # float64 video scores: the official numpy 1.x multiplies gamma * float32 in float64
        segments = video_proposals(golden_combined, golden_score.astype(np.float64), fps, params)
        assert len(segments) == len(video["predictions"]), video["video_id"]
        # the official order across classes (first proposal, threshold-major) and the class columns
        assert [s.label for s in segments] == [p["label"] for p in video["predictions"]], video["video_id"]
        assert all(names[p["class_index"]] == p["label"] for p in video["predictions"])
        for name in names:
            got = [s for s in segments if s.label == name]
            exp = [p for p in video["predictions"] if p["label"] == name]
            assert len(got) == len(exp)
            for seg, p in zip(got, exp):
                assert abs(seg.score - p["score"]) < 1e-9
                assert abs(seg.start - p["segment"][0]) < 1e-9 and abs(seg.end - p["segment"][1]) < 1e-9
            n_checked += len(exp)
    assert n_checked > 500


def test_golden_case_documented_oic_intent_changes_scores():
    """The fix (lambda 0.25, gamma 0.15) is a real option with different scores."""
    from tsl300.methods.case import official_postprocess_params
    from tsl300.postprocess import video_proposals

    video = _load("inference.json")["videos"][0]
    combined = np.asarray(video["combined_cas"], dtype=np.float32)
    score = np.asarray(video["score_supp"], dtype=np.float32)
    quirk = official_postprocess_params(["a", "b"])
    fixed = dataclasses.replace(quirk, oic_lambda=0.25, oic_gamma=0.15)
    a = video_proposals(combined, score, 25.0, quirk)
    b = video_proposals(combined, score, 25.0, fixed)
    assert len(a) == len(b) and max(abs(x.score - y.score) for x, y in zip(a, b)) > 1e-3

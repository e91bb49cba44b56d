"""CO2-Net's distinctive parts against the official code's golden cases (../shared/golden/co2net)."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import shared_path

from tsl300.losses.consensus import masked_topk_mil, suppress_background as suppress_cas
from tsl300.methods.co2net import (CO2LossWeights, CO2Network, CrossModalConsensus,
                                   ant_smooth_kernel, co2_criterion, co2_infer_video)
from tsl300.models.consensus import ConsensusFusion


def topk_mil_loss(cas, labels, k, background_present):
    full = torch.ones(cas.shape[:2], dtype=torch.bool)
    return masked_topk_mil(cas, labels, full, int(k), background_present)


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "co2net", name).read_text())


def _t(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x, dtype=np.float32))


def _regenerate(entry: dict) -> torch.Tensor:
    """The golden weight generator (frozen numpy stream), checked against its checksums."""
    w = np.random.RandomState(entry["seed"]).uniform(
        -entry["bound"], entry["bound"], size=entry["shape"]).astype(np.float32)
    assert float(w.astype(np.float64).sum()) == pytest.approx(entry["check_sum"], abs=1e-3)
    np.testing.assert_allclose(w.ravel()[:4], entry["check_first4"], rtol=1e-6)
    return torch.from_numpy(w)


def _close(actual, expected, atol=1e-5, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               atol=atol, rtol=rtol)


# ------------------------------------------------------------------------------------ modules

def test_golden_co2net_ccm_fixed_weights():
    data = _load("ccm.json")
    ccm = CrossModalConsensus(1024).eval()
    state = {w["name"]: _regenerate(w) for w in data["weights"]}
    ccm.load_state_dict(state, strict=True)
    with torch.no_grad():
        for case in data["cases"]:
            main, aux = _t(case["main"]), _t(case["aux"])
            channel, local = ccm.gates(main, aux)
            attention, filtered = ccm(main, aux)
            _close(channel[..., 0], case["channel_attn"])
            _close(local, case["bit_wise_attn"])
            _close(filtered, case["filter_feat"])
            _close(attention[:, 0], case["attention"])


def test_golden_co2net_shared_n_modality_consensus_is_the_two_modality_ccm():
    """tsl300.models.consensus.ConsensusFusion with two modalities reproduces the official CCM
    in eval mode (its global-context Linear is the centre tap of the official k=3 conv)."""
    data = _load("ccm.json")
    state = {w["name"]: _regenerate(w) for w in data["weights"]}
    fusion = ConsensusFusion({"main": 1024, "aux": 1024}, attention_hidden=512).eval()
    with torch.no_grad():
        fusion.global_context["main"].weight.copy_(state["channel_conv.0.weight"][:, :, 1])
        fusion.global_context["main"].bias.copy_(state["channel_conv.0.bias"])
        fusion.local_context["main"]["aux"].weight.copy_(state["bit_wise_attn.0.weight"])
        fusion.local_context["main"]["aux"].bias.copy_(state["bit_wise_attn.0.bias"])
        unit = fusion.attention["main"]
        for mine, theirs in ((unit.conv1, "attention.0"), (unit.conv2, "attention.3"), (unit.out, "attention.5")):
            mine.weight.copy_(state[f"{theirs}.weight"])
            mine.bias.copy_(state[f"{theirs}.bias"])
        for case in data["cases"]:
            main, aux = _t(case["main"]), _t(case["aux"])
            B, _, T = main.shape
            out = fusion({"main": main, "aux": aux}, torch.ones(B, T, dtype=torch.bool),
                         {"main": torch.ones(B, dtype=torch.bool), "aux": torch.ones(B, dtype=torch.bool)})
            _close(out["filtered"]["main"], case["filter_feat"])
            _close(out["attentions"]["main"], case["attention"])


def test_golden_co2net_model_forward_and_ant_variant():
    data = _load("model_forward.json")
    state = {w["name"]: _regenerate(w) for w in data["weights"]}
    x = _t(data["input"])
    outputs = {}
    for key, kernel in (("co2", 1), ("ant_co2", ant_smooth_kernel(data["ant_pool"]["max_seqlen"],
                                                                 data["ant_pool"]["t"]))):
        net = CO2Network(1024, 1024, data["C"], smooth_kernel=kernel).eval()
        net.load_state_dict(state, strict=True)
        with torch.no_grad():
            outputs[key] = net(x[..., :1024], x[..., 1024:])
    assert ant_smooth_kernel(60, 5) == data["ant_pool"]["kernel"] == 13
    for key in ("feat", "cas", "attn", "v_atn", "f_atn"):
        _close(outputs["co2"][key], data["co2"][key])
    for key in ("cas", "attn", "v_atn", "f_atn"):
        _close(outputs["ant_co2"][key], data["ant_co2"][key])
    _close(outputs["ant_co2"]["feat"], data["co2"]["feat"])


# ------------------------------------------------------------------------------------- losses

@pytest.fixture(scope="module")
def loss_data():
    return _load("losses.json")


def _loss_inputs(case, requires_grad=False):
    inp = case["inputs"]
    names = ("cas", "attn", "v_atn", "f_atn", "feat")
    tensors = {n: _t(inp[n]).requires_grad_(requires_grad) for n in names}
    return tensors, _t(inp["labels"])


def test_golden_co2net_criterion_terms(loss_data):
    hp = loss_data["hyperparameters"]
    official = CO2LossWeights(hp["alpha1"], hp["alpha2"], hp["alpha3"], hp["alpha4"])
    alt = CO2LossWeights(**hp["alt_alphas"])
    for case in loss_data["cases"]:
        x, labels = _loss_inputs(case)
        assert max(1, int(case["T"] // hp["k"])) == case["k"]
        terms = co2_criterion(**x, labels=labels, k=hp["k"], weights=official)
        for name in ("loss_mil_orig_mean", "loss_mil_supp_mean"):
            _close(terms[name.replace("_mean", "")], case[name], atol=1e-5, rtol=0)
        for name in ("loss_3_supp_Contrastive", "mutual_loss", "loss_norm", "v_loss_norm",
                     "f_loss_norm", "loss_guide", "v_loss_guide", "f_loss_guide"):
            _close(terms[name], case[name], atol=1e-5, rtol=0)
        _close(terms["total"], case["total_loss"], atol=1e-5, rtol=0)
        _close(co2_criterion(**x, labels=labels, k=hp["k"], weights=alt)["total"],
               case["total_loss_alt_alphas"], atol=1e-5, rtol=0)
        _close(topk_mil_loss(x["cas"], labels, hp["k"], True), case["loss_mil_orig"], atol=1e-5, rtol=0)
        cas_supp = suppress_cas(x["cas"], x["attn"])
        _close(topk_mil_loss(cas_supp, labels, hp["k"], False), case["loss_mil_supp"],
               atol=1e-5, rtol=0)
        if "element_logits_supp" in case:
            _close(cas_supp, case["element_logits_supp"], atol=1e-5, rtol=0)


def test_golden_co2net_ant_criterion(loss_data):
    hp = loss_data["hyperparameters"]
    ant = CO2LossWeights(hp["alpha1"], hp["alpha2"], hp["alpha3"], 1.0)  # mutual weight fixed
    for case in loss_data["cases"]:
        x, labels = _loss_inputs(case)
        cas_supp = suppress_cas(x["cas"], x["attn"])
        _close(topk_mil_loss(x["cas"], labels, hp["ant_k"], True),
               case["ant_co2"]["loss_mil_orig"], atol=1e-5, rtol=0)
        _close(topk_mil_loss(cas_supp, labels, hp["ant_k"], False),
               case["ant_co2"]["loss_mil_supp"], atol=1e-5, rtol=0)
        total = co2_criterion(**x, labels=labels, k=hp["ant_k"], weights=ant)["total"]
        _close(total, case["ant_co2"]["total_loss"], atol=1e-5, rtol=0)


def test_golden_co2net_gradients_respect_stop_gradient(loss_data):
    hp = loss_data["hyperparameters"]
    weights = CO2LossWeights(hp["alpha1"], hp["alpha2"], hp["alpha3"], hp["alpha4"])
    cases = [c for c in loss_data["cases"] if "grad" in c]
    assert len(cases) == 4
    for case in cases:
        x, labels = _loss_inputs(case, requires_grad=True)
        co2_criterion(**x, labels=labels, k=hp["k"], weights=weights)["total"].backward()
        for name, tensor in x.items():
            _close(tensor.grad, case["grad"][name], atol=1e-6, rtol=1e-4)


# ---------------------------------------------------------------------------------- inference

def _multiset(rows):
    return sorted(tuple(r) for r in np.asarray(rows, np.float64).reshape(-1, 4)[:, [2, 0, 1, 3]])


def test_golden_co2net_inference_post_processing():
    data = _load("inference.json")
    const = data["constants"]
    assert const["scale"] == 1 and const["oic_lambda"] == 0.25
    for video in data["videos"]:
        amb = np.asarray(video["ambiguous_segments"], np.float64).reshape(-1, 4)
        result = co2_infer_video(video["cas"], video["attn"], ambiguous=amb[:, 2:].astype(int))
        _close(result.video_scores, video["pred_vid_score"], atol=1e-6, rtol=0)
        assert result.selected_classes.tolist() == video["selected_classes"], video["video_id"]
        for c, rows in video["proposals_before_nms"].items():
            got = result.proposals[int(c)]
            np.testing.assert_array_equal(got[:, [0, 2, 3]], np.asarray(rows)[:, [0, 2, 3]])
            _close(got[:, 1], np.asarray(rows)[:, 1], atol=1e-5, rtol=0)
        assert len(result.after_soft_nms) == len(video["after_soft_nms"])
        for got, rows in zip(result.after_soft_nms, video["after_soft_nms"]):  # per class, pick order
            rows = np.asarray(rows, np.float64).reshape(-1, 4)
            assert got.shape == rows.shape, video["video_id"]
            np.testing.assert_array_equal(got[:, [0, 2, 3]], rows[:, [0, 2, 3]], err_msg=video["video_id"])
            _close(got[:, 1], rows[:, 1], atol=1e-5, rtol=0)
        expected = np.asarray(video["predictions"], np.float64).reshape(-1, 4)
        assert len(result.predictions) == len(expected), video["video_id"]
        got_sorted = np.array(_multiset(result.predictions)).reshape(-1, 4)
        exp_sorted = np.array(_multiset(expected)).reshape(-1, 4)
        np.testing.assert_array_equal(got_sorted[:, :3], exp_sorted[:, :3])
        _close(got_sorted[:, 3], exp_sorted[:, 3], atol=1e-5, rtol=0)
        # Boundaries and labels appear the same number of times (duplicates included).
        assert Counter(map(tuple, result.predictions[:, :3].tolist())) == \
            Counter(map(tuple, expected[:, :3].tolist()))


def test_golden_co2net_recipe_inference_constants():
    from conftest import REPO_ROOT
    from tsl300.recipes import load_recipe
    const = _load("inference.json")["constants"]
    cfg = load_recipe(REPO_ROOT / "recipes" / "co2net" / "co2net.yaml").model_config().inference
    assert cfg.topk_rat == const["video_score_topk_rat"] and cfg.class_thresh == const["class_thresh"]
    np.testing.assert_allclose(cfg.act_thresh, const["act_thresh"], atol=1e-15)
    assert (cfg.oic_lambda, cfg.oic_gamma, cfg.soft_nms_sigma) == \
        (const["oic_lambda"], const["oic_gamma"], const["soft_nms"]["sigma"])


def test_golden_co2net_ambiguous_conversion_uses_half_to_even():
    from tsl300.methods.co2net import ambiguous_to_snippets
    data = _load("inference.json")
    video = next(v for v in data["videos"] if len(v["ambiguous_segments"]))
    amb = np.asarray(video["ambiguous_segments"], np.float64)
    np.testing.assert_array_equal(ambiguous_to_snippets(amb[:, :2]), amb[:, 2:].astype(int))

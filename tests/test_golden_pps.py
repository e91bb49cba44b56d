"""PPS: the parts that carry over to TSL (masks, pull-push losses, decoding) against the official
code's golden cases (../shared/golden/pps; tolerances from its README)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path

from tsl300.methods.pps import (PPSLossConfig, cal_nll_loss, calculate_iou, gauss_mask, generate_prop,
                                inverse_gauss_mask, laplace_mask, pps_losses, shrink, top1_metric, topn_metric,
                                vote)


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "pps", name).read_text())


def _arr(x) -> np.ndarray:
    """JSON values with "NaN"/"Infinity" strings -> float array."""
    return np.asarray(json.loads(json.dumps(x).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
                                 .replace('"-Infinity"', "-Infinity")), np.float64)


FUNCTIONS = {"generate_gauss_mask": (gauss_mask, "sigma_gauss"), "generate_laplace_mask": (laplace_mask, "sigma_laplace"),
             "generate_negative_gauss_mask": (gauss_mask, "sigma_neg_gauss"),
             "generate_negative_inverse_gaussian_mask": (inverse_gauss_mask, "sigma_neg_inv_gauss")}


def test_golden_pps_masks():
    data = _load("gauss_masks.json")
    center = torch.tensor(np.asarray(data["pairs"]["center"], np.float32))
    width = torch.tensor(np.asarray(data["pairs"]["width"], np.float32))
    assert len(data["masks"]) == 32
    for case in data["masks"]:
        fn, key = FUNCTIONS[case["function"]]
        ours = fn(center, width, case["props_len"], case[key]).numpy()
        ref = _arr(case["weight"])
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{case['function']} {case['props_len']}")
        assert int(np.isnan(ours).all(axis=1).sum()) == case["nan_rows"]
        np.testing.assert_allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)], atol=1e-5)
    for case in data["generate_prop"]:
        B, K = case["bsz"], case["num_mask"]
        c = torch.tensor(np.asarray(case["center"], np.float32)).reshape(B, K)
        w = torch.tensor(np.asarray(case["width"], np.float32)).reshape(B, K)
        out = generate_prop(c, w, case["props_len"], case["sigma_gauss"])
        np.testing.assert_allclose(out["component_masks"].reshape(B * K, -1), case["gauss_weight"], atol=1e-5)
        np.testing.assert_allclose(out["component_masks"], case["each_mask_weight"], atol=1e-5)
        np.testing.assert_allclose(out["prop_weight"], np.asarray(case["prop_weight"])[:, 0], atol=1e-5)
        np.testing.assert_allclose(out["left"], case["prop_left"], atol=1e-6)
        np.testing.assert_allclose(out["right"], case["prop_right"], atol=1e-6)


def test_golden_pps_boundary_shrink():
    left, right = shrink(torch.tensor([0.0, 0.2, -0.1]), torch.tensor([1.0, 0.6, 1.2]), 0.15)
    np.testing.assert_allclose(left, [0.075, 0.23, 0.0], atol=1e-7)      # -0.1 + 0.0975 < 0 -> 0
    np.testing.assert_allclose(right, [0.925, 0.57, 1.0], atol=1e-7)     # 1.2 - 0.0975 > 1 -> 1


@pytest.fixture(scope="module")
def loss_data():
    return _load("loss.json")


def test_golden_pps_nll(loss_data):
    for case in loss_data["cal_nll_loss"]:
        weights = None if case["weights"] is None else torch.tensor(np.asarray(case["weights"], np.float32))
        nll, acc = cal_nll_loss(torch.tensor(np.asarray(case["logit"], np.float32)), torch.tensor(case["idx"]),
                                torch.tensor(np.asarray(case["mask"], np.float32)), weights, loss_data["label_smoothing_eps"])
        np.testing.assert_allclose(nll, case["nll_loss"], rtol=1e-5, atol=1e-6)
        assert abs(float(acc) - case["mean_acc"]) <= 1e-6


def _case_terms(case: dict, config: PPSLossConfig) -> dict:
    inp = {k: v for k, v in case["inputs"].items()}
    B, P = case["bsz"], case["num_props"]
    ids = torch.tensor(inp["words_id"])
    mask = torch.tensor(np.asarray(inp["words_mask"], np.float32))

    def nll(logits, rep):
        out, _ = cal_nll_loss(torch.tensor(np.asarray(logits, np.float32)), ids.repeat_interleave(rep, 0),
                              mask.repeat_interleave(rep, 0))
        return out

    n, neg, hneg = nll(inp["words_logits"], P).reshape(B, P), nll(inp["neg_words_logits"], P).reshape(B, P), \
        nll(inp["hneg_words_logits"], 1)
    np.testing.assert_allclose(n, case["per_proposal_nll"], rtol=1e-5, atol=1e-6)
    L = case["props_len"]
    return pps_losses(n, neg, hneg, torch.tensor(np.asarray(inp["prop_weights"], np.float32)).reshape(B, P, L),
                      [torch.tensor(np.asarray(m, np.float32)) for m in inp["each_mask_weights"]],
                      [torch.tensor(np.asarray(c, np.float32)).reshape(B, -1) for c in inp["mask_centers"]], config)


def _check(terms: dict, ref: dict, where: str) -> None:
    flat = {"total": ref["total"], "main_loss": ref["main_loss"], "sub_loss": ref["sub_loss"],
            **ref["main_loss_dict"], **ref["sub_loss_dict"]}
    for k, v in flat.items():
        assert abs(float(terms[k]) - v) <= 1e-6 + 1e-5 * abs(v), (where, k, float(terms[k]), v)


def test_golden_pps_losses(loss_data):
    assert len(loss_data["cases"]) == 7
    for case in loss_data["cases"]:
        for name, cfg in loss_data["loss_configs"].items():
            _check(_case_terms(case, PPSLossConfig(**cfg)), case["losses"][name], f"{case['id']} {name}")
        two = PPSLossConfig(**{**loss_data["loss_configs"]["charades_refact"], "num_train_prop": 2})
        if case["losses_charades_refact_num_train_prop_2"] is None:  # one proposal: no second one
            assert case["num_props"] == 1
            continue
        _check(_case_terms(case, two), case["losses_charades_refact_num_train_prop_2"], f"{case['id']} k=2")


def test_golden_pps_decoding():
    data = _load("inference.json")
    for case in data["fixed_output_cases"] + data["end_to_end"]:
        weighted = case["dataset_name"] == "CharadesSTA"
        for batch in case["batches"]:
            nll = np.asarray(batch["per_proposal_nll"], np.float64)
            lefts = np.asarray(batch.get("prop_lefts"), np.float64)
            rights = np.asarray(batch.get("prop_rights"), np.float64)
            rank1, topk = [], []
            for b in range(len(nll)):
                v = vote(nll[b].astype(np.float32), lefts[b], rights[b], weighted)
                np.testing.assert_allclose(v["votes"], batch["votes"][b], atol=1e-5)
                assert v["selected"] == batch["selected_index_in_sorted_order"][b]
                rank1.append(v["moments"][v["selected"]])
                topk.append(v["moments"][:min(len(nll[b]), 5)])
            np.testing.assert_allclose(rank1, batch["rank1_moment_normalised"], atol=1e-5)
            np.testing.assert_allclose(topk, batch["topk_moments_normalised"], atol=1e-5)
            gt = np.asarray(batch["gt_normalised"])
            for k, val in top1_metric(np.asarray(rank1), gt).items():
                assert abs(val - batch["rank1_metrics"][k]) <= 1e-6, k
            for k, val in topn_metric(np.transpose(np.asarray(topk), (1, 0, 2)), gt).items():
                assert abs(val - batch["topk_metrics"][k]) <= 1e-6, k
    iou = data["iou_and_metrics"]
    np.testing.assert_allclose(calculate_iou(np.asarray(iou["a"], np.float32), np.asarray(iou["b"], np.float32)),
                               iou["calculate_IoU"], rtol=1e-6, atol=1e-12)
    for k, v in top1_metric(np.asarray(iou["a"], np.float32), np.asarray(iou["b"], np.float32)).items():
        assert abs(v - iou["top_1_metric"][k]) <= 1e-6
    for k, v in topn_metric(np.asarray(iou["top_n_metric_preds"], np.float32), np.asarray(iou["b"], np.float32)).items():
        assert abs(v - iou["top_n_metric"][k]) <= 1e-6

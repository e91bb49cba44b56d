"""Pseudo-label search and every TSL-Net loss term vs the official code
(../shared/golden/tsl_net/pseudo_labels_and_loss.json), to 1e-5."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import shared_path
from tsl300.losses.pseudo_labels import search_pseudo_labels
from tsl300.methods.tsl_net import TSLNetLoss, tsl_net_loss_terms

ATOL = 1e-5


@pytest.fixture(scope="module")
def golden():
    with open(shared_path("golden", "tsl_net", "pseudo_labels_and_loss.json")) as f:
        return json.load(f)


def case_tensors(case):
    probs = torch.tensor(case["cas_sigmoid_fuse"], dtype=torch.float32)[None]
    anno = torch.tensor(case["point_anno"], dtype=torch.float32)[None]
    targets = torch.cat([anno, torch.zeros_like(anno[..., :1])], dim=-1)
    pred = torch.tensor(case["vid_distribution"], dtype=torch.float32)[None]
    dist = torch.tensor(case["label_distribution"], dtype=torch.float32)[None]
    cpc = torch.tensor([case["cpc_loss"]], dtype=torch.float32)
    return probs, targets, pred, dist, cpc


def test_golden_tsl_net_pseudo_label_search(golden):
    for i, case in enumerate(golden["cases"]):
        probs, targets, *_ = case_tensors(case)
        act, bkg = search_pseudo_labels(probs, targets)
        np.testing.assert_allclose(act[0].numpy(), np.asarray(case["act_seed"]), atol=ATOL, rtol=0,
                                   err_msg=f"case {i} act_seed")
        np.testing.assert_allclose(bkg[0].numpy(), np.asarray(case["bkg_seed"]), atol=ATOL, rtol=0,
                                   err_msg=f"case {i} bkg_seed")


def test_golden_tsl_net_loss_terms(golden):
    params = TSLNetLoss(lambdas=tuple(golden["lambdas"]), official_contrastive_sign=True)
    for i, case in enumerate(golden["cases"]):
        probs, targets, pred, dist, cpc = case_tensors(case)
        terms = tsl_net_loss_terms(probs, targets, pred, dist, cpc, None, params)
        ref = case["loss"]
        for key in ("loss_recover_cpc", "loss_vid_ldl", "loss_frame", "loss_frame_bkg",
                    "loss_frame_pact", "loss_total", "pos_num", "neg_num"):
            assert abs(float(terms[key][0]) - ref[key]) <= ATOL, (i, key, float(terms[key][0]), ref[key])
        rate = float(terms["pos_num"][0]) / float(terms["neg_num"][0])
        assert abs(rate - ref["pos_neg_rage"]) <= ATOL


def test_golden_tsl_net_search_batched_with_padding_matches_single(golden):
    """All cases in one padded batch give each case's own golden seeds."""
    cases = golden["cases"]
    T = max(c["T"] for c in cases)
    probs = torch.rand(len(cases), T, 3)  # garbage in the padding must not leak
    targets = torch.zeros(len(cases), T, 3)
    mask = torch.zeros(len(cases), T, dtype=torch.bool)
    for b, case in enumerate(cases):
        p, y, *_ = case_tensors(case)
        probs[b, : case["T"]] = p[0]
        targets[b, : case["T"]] = y[0]
        mask[b, : case["T"]] = True
    act, bkg = search_pseudo_labels(probs, targets, mask)
    for b, case in enumerate(cases):
        np.testing.assert_allclose(act[b, : case["T"]].numpy(), case["act_seed"], atol=ATOL, rtol=0)
        np.testing.assert_allclose(bkg[b, : case["T"]].numpy(), case["bkg_seed"], atol=ATOL, rtol=0)
        assert float(bkg[b, case["T"]:].abs().sum()) == 0.0

"""LACP's distinctive parts against the official code's golden cases (../shared/golden/lacp)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path

from conftest import REPO_ROOT
from tsl300.methods.lacp import (decode_sequence, lacp_head, lacp_video_loss,
                                 optimal_sequence_search, point_snippet_thumos, points_matrix, search_grammar,
                                 search_with_seeds, select_seed)
from tsl300.eval import evaluate_detection
from tsl300.postprocess import PostprocessParams, select_classes, video_proposals
from tsl300.recipes import load_recipe


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "lacp", name).read_text())


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def test_golden_lacp_model_head():
    data = _load("model_head.json")
    for case in data["cases"]:
        logits = torch.tensor(_f32(case["logits"]))[None]
        label = torch.tensor(_f32(case["label"]))[None]
        test = lacp_head(logits, None, data["r_act"])
        train = lacp_head(logits, label, data["r_act"])
        np.testing.assert_allclose(test["cas_sigmoid_fuse"][0], case["cas_sigmoid_fuse"], atol=1e-6)
        np.testing.assert_allclose(test["vid_score"][0], case["vid_score_test"], atol=1e-6)
        np.testing.assert_allclose(train["vid_score"][0], case["vid_score_train"], atol=1e-6)


def test_golden_lacp_point_labels_thumos_grid():
    data = _load("point_labels.json")
    for case in data["cases"]:
        snippets = point_snippet_thumos(np.array(case["point_frames"]), case["fps"],
                                        data["feature_fps"])
        pairs = sorted({(int(s), int(c)) for s, c in zip(snippets, case["class_index"])})
        assert pairs == sorted(map(tuple, case["point_snippets"])), case["video_id"]
        assert np.all(snippets < case["vid_num_seg"])
        # the video-level labels: every class with a point
        points = np.array([(int(s), int(c)) for s, c in zip(snippets, case["class_index"])], dtype=np.int64)
        label = points_matrix(points, case["vid_num_seg"], len(case["label"])).max(axis=0)
        np.testing.assert_array_equal(label, case["label"], err_msg=case["video_id"])


@pytest.fixture(scope="module")
def search_data():
    return _load("seeds_and_search.json")


def test_golden_lacp_select_seed(search_data):
    for case in search_data["cases"]:
        cas = _f32(case["cas_sigmoid_fuse"])
        act_seed, bkg_seed = select_seed(cas[:, -1], _f32(case["point_anno"]),
                                         search_data["act_thresh"], search_data["bkg_thresh"])
        np.testing.assert_array_equal(act_seed, case["act_seed"], err_msg=case["id"])
        np.testing.assert_array_equal(bkg_seed, case["bkg_seed"], err_msg=case["id"])


def _check_search(case, pseudo, seq_score, details):
    assert [d.cls for d in details] == [p["cls"] for p in case["per_class"]], case["id"]
    for got, exp in zip(details, case["per_class"]):
        assert got.transcript == exp["transcript"], (case["id"], exp["cls"])
        assert got.seed_ranges == exp["seed_ranges"], (case["id"], exp["cls"])
        np.testing.assert_array_equal(got.labels, exp["labels"], err_msg=case["id"])
        assert got.score == pytest.approx(exp["score"], abs=1e-5), (case["id"], exp["cls"])
    np.testing.assert_array_equal(pseudo, case["pseudo_labels"])
    assert seq_score == pytest.approx(float(case["sequence_score"]), abs=1e-5)


def test_golden_lacp_optimal_sequence_search(search_data):
    assert len(search_data["cases"]) == 17
    for case in search_data["cases"]:
        _check_search(case, *optimal_sequence_search(
            _f32(case["cas_sigmoid_fuse"]), _f32(case["point_anno"]), search_data["budget"],
            search_data["prune_thresh"], search_data["oic_lambda"]))


def test_golden_lacp_search_branches_unreachable_from_select_seed(search_data):
    for case in search_data["direct_cases"]:
        _check_search(case, *search_with_seeds(
            _f32(case["cas_sigmoid_fuse"]), _f32(case["act_seed"]), _f32(case["bkg_seed"]),
            search_data["budget"], search_data["prune_thresh"], search_data["oic_lambda"]))


def test_lacp_decoder_respects_seed_ranges_and_beats_alternatives():
    """On a clean two-instance video the decoder recovers the instances exactly."""
    T = 40
    p = np.full(T, 0.02, np.float32)
    p[8:15] = 0.9
    p[25:33] = 0.85
    point = np.zeros((T, 1), np.float32)
    point[[10, 28], 0] = 1
    bkg = np.where(p > 0.5, 0.05, 0.97).astype(np.float32)
    act_seed, bkg_seed = select_seed(bkg, point)
    transcript, ranges = search_grammar(act_seed, bkg_seed, 0)
    labels, score = decode_sequence(p, transcript, ranges)
    expected = np.zeros(T)
    expected[8:15] = expected[25:33] = 1
    np.testing.assert_array_equal(labels, expected)
    assert score > 0.8


@pytest.fixture(scope="module")
def loss_data():
    return _load("loss.json")


def test_golden_lacp_total_loss(loss_data):
    assert list(loss_data["lambdas"]) == [1, 0.5, 1, 1, 1]
    for case in loss_data["cases"]:
        dense = None if case["new_dense_anno"] is None else _f32(case["new_dense_anno"])
        trace: dict = {}
        got = lacp_video_loss(torch.tensor(_f32(case["vid_score"])),
                              torch.tensor(_f32(case["cas_sigmoid_fuse"])),
                              torch.tensor(_f32(case["features"])),
                              torch.tensor(_f32(case["label"])),
                              torch.tensor(_f32(case["point_anno"])), dense,
                              np.random.RandomState(int(case["numpy_seed"])), trace=trace)
        np.testing.assert_array_equal(trace["bkg_seed"], case["bkg_seed"], err_msg=case["id"])
        assert [(s["kind"], s["start"], s["end"]) for s in trace["oic_segments"]] == \
            [(s["kind"], s["start"], s["end"]) for s in case["oic_segments"]], case["id"]
        for g, e in zip(trace["oic_segments"], case["oic_segments"]):
            assert g["score"] == pytest.approx(e["score"], abs=1e-5)
        assert trace["feature_samples"] == case["feature_samples"], case["id"]
        for name, value in case["loss"].items():
            assert float(got[name]) == pytest.approx(value, abs=1e-5), (case["id"], name)


def test_golden_lacp_inference_is_the_shared_postprocess_with_the_recipe_constants():
    """LACP's ``test()`` = tsl300.postprocess with recipes/lacp/lacp.yaml's ``postprocess``."""
    data = _load("inference.json")
    const = data["constants"]
    recipe = load_recipe(REPO_ROOT / "recipes" / "lacp" / "lacp.yaml")
    params = PostprocessParams.from_dict({**recipe.postprocess, "class_names": tuple(const["class_names"])})
    assert params.class_thresh == const["class_thresh"] and params.scale == const["scale"]
    np.testing.assert_allclose(params.cas_thresholds, const["act_thresh_cas"], atol=1e-12)
    np.testing.assert_allclose(params.actionness_thresholds, const["act_thresh_agnostic"], atol=1e-12)
    assert (params.oic_lambda, params.oic_gamma, params.nms_iou) == \
        (const["oic_lambda"], const["oic_gamma"], const["nms_iou"])
    assert params.nms == "hard" and params.nms_plus_one and params.oic_on_thresholded_cas
    for video in data["videos"]:
        cas = _f32(video["cas_sigmoid_fuse"])
        T = cas.shape[0]
        # the official time factor: 25-fps features, sampled length T of vid_num_seg snippets
        grid_fps = const["feature_fps"] * T / int(video["vid_num_seg"])
        got = video_proposals(cas[:, :-1], _f32(video["vid_score"]), grid_fps, params,
                              np.float32(1) - cas[:, -1])
        exp = video["predictions"]
        assert len(got) == len(exp), video["video_id"]
        for seg, e in zip(got, exp):
            assert seg.label == e["label"], video["video_id"]
            assert seg.score == pytest.approx(e["score"], abs=1e-6)
            assert [seg.start, seg.end] == pytest.approx(e["segment"], abs=1e-9)
    # the official evaluation of those predictions (ANETdetection mAP and test_acc), per group
    videos = {v["video_id"]: v for v in data["videos"]}
    assert sorted(videos) == sorted(vid for group in data["evaluation"] for vid in group["videos"])
    for group in data["evaluation"]:
        members = [videos[vid] for vid in group["videos"]]
        gt = {"database": {v["video_id"]: {"subset": "test", "annotations": v["gt"]} for v in members}}
        pred = {"results": {v["video_id"]: v["predictions"] for v in members}}
        got = evaluate_detection(gt, pred, tiou_thresholds=group["tiou_thresholds"])
        np.testing.assert_allclose(got["mAP"], group["mAP"], rtol=0, atol=1e-9)
        assert got["average_mAP"] == pytest.approx(group["average_mAP[0.1:0.7]"], abs=1e-9)
        for name, (lo, hi) in {"average_mAP[0.1:0.5]": (0, 5), "average_mAP[0.3:0.7]": (2, 7)}.items():
            assert np.mean(got["mAP"][lo:hi]) == pytest.approx(group[name], abs=1e-9), name
        correct = [np.array_equal(np.isin(np.arange(v["C"]), select_classes(_f32(v["vid_score"]),
                                                                            const["class_thresh"])),
                                  np.asarray(v["label"]) > 0) for v in members]
        assert np.mean(correct) == pytest.approx(group["test_acc"], abs=1e-9)

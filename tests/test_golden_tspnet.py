"""TSP-Net against the official code's golden cases (../shared/golden/tspnet; tolerances from
its README)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from conftest import shared_path

from tsl300.methods.tspnet import (TSPNetNetwork, boundary_adaption, filter_ambiguous,
                                   point_times, proposal_labels, proposal_scores,
                                   proposals_to_snippets, read_proposal_file, saliency_deltas,
                                   soft_nms_snippets, tspnet_detections, tspnet_loss)

THUMOS_SPS = 25 / 16  # THUMOS14 features: 25 fps, 16 frames per snippet


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "tspnet", name).read_text())


@pytest.fixture(scope="module")
def forward_data():
    return _load("model_forward.json")


def _seeded_network(meta: dict, with_values: bool) -> TSPNetNetwork:
    net = TSPNetNetwork(meta["feature_size"], meta["num_classes"]).eval()
    state = {}
    for w in meta["weights"]:
        values = np.random.RandomState(w["seed"]).uniform(w["low"], w["high"], size=w["shape"]).astype(np.float32)
        assert hashlib.sha256(values.astype("<f4").tobytes()).hexdigest() == w["sha256"], w["name"]
        if with_values:
            np.testing.assert_array_equal(values, np.asarray(w["values"], np.float32).reshape(w["shape"]))
        state[w["name"]] = torch.from_numpy(values)
    net.load_state_dict(state)
    return net


def _case_features(case: dict, cases: list) -> np.ndarray:
    if isinstance(case["features"], str) and case["features"].startswith("same as "):
        return _case_features(next(c for c in cases if c["id"] == case["features"][8:]), cases)
    if isinstance(case["features"], dict):
        shape = case["features"]["shape"]
        x = np.random.RandomState(7001).uniform(0.0, 2.0, size=shape).astype(np.float32)
        assert hashlib.sha256(x.tobytes()).hexdigest() == case["features"]["sha256"]
        return x
    return np.asarray(case["features"], np.float32)


def test_golden_tspnet_parameter_counts(forward_data):
    for key in ("reduced", "official_size"):
        meta = forward_data["models"][key]
        net = TSPNetNetwork(meta["feature_size"], meta["num_classes"])
        assert sum(p.numel() for p in net.parameters()) == meta["parameter_counts"]["total"]
        assert [n for n, _ in net.state_dict().items()] == [w["name"] for w in meta["weights"]]
    assert sum(p.numel() for p in TSPNetNetwork(2048, 2).parameters()) == \
        forward_data["models"]["parameter_counts_2048_2_classes"]["total"]


def _check_forward(net, case, tol, cases):
    x = torch.from_numpy(_case_features(case, cases))
    props = torch.tensor(np.asarray(case["proposals"], np.float32))
    if case["is_training"]:  # official training path: randperm under torch.manual_seed(0)
        perm = torch.randperm(len(props), generator=torch.Generator().manual_seed(0))
        assert perm.tolist() == case["randperm"]
        props = props[perm[:4]]
    with torch.no_grad():
        out = net(x, props)
    fill = case["roi_align"]["fill_len"]
    length = props[:, 1] - props[:, 0]
    assert int(np.ceil(float(0.25 * length.max()))) + 1 == fill
    if isinstance(case["prop_features"], dict):  # official size: summaries
        roi = out["roi"].numpy()
        np.testing.assert_allclose(roi.sum(axis=(1, 2)), case["prop_features"]["sum_per_proposal"], rtol=1e-4)
        np.testing.assert_allclose(roi[:, :, :3], case["prop_features"]["first3_channels"], atol=1e-4)
        ff = out["feat_fuse"].numpy()
        np.testing.assert_allclose(ff.sum(axis=0), case["feat_fuse"]["sum_per_proposal"], rtol=1e-4)
        np.testing.assert_allclose(ff[:8], case["feat_fuse"]["rows_0_8"], atol=1e-4)
    else:
        np.testing.assert_allclose(out["roi"].numpy(), case["prop_features"], atol=tol, err_msg=case["id"])
        np.testing.assert_allclose(out["fusion_input"].numpy(), case["fusion_input"], atol=tol)
        np.testing.assert_allclose(out["feat_fuse"].numpy(), case["feat_fuse"], atol=tol)
    np.testing.assert_allclose(out["prop_cas"].numpy().T, case["prop_cas"], atol=tol)
    np.testing.assert_allclose(out["prop_attn"].numpy(), case["prop_attn"], atol=tol)
    np.testing.assert_allclose(out["prop_center"].numpy(), case["prop_center"], atol=tol)


def test_golden_tspnet_forward_reduced(forward_data):
    net = _seeded_network(forward_data["models"]["reduced"], with_values=True)
    cases = [c for c in forward_data["cases"] if not c["id"].startswith("official")]
    assert len(cases) == 4
    for case in cases:
        _check_forward(net, case, 1e-6 if case["id"] == "r_T8" else 1e-4, forward_data["cases"])


@pytest.mark.slow
def test_golden_tspnet_forward_official_size(forward_data):
    net = _seeded_network(forward_data["models"]["official_size"], with_values=False)
    case = next(c for c in forward_data["cases"] if c["id"].startswith("official"))
    _check_forward(net, case, 1e-4, forward_data["cases"])


@pytest.fixture(scope="module")
def labels_data():
    return _load("labels.json")


def _video_labels(data: dict, vid: str, deltas: dict[str, float]):
    files = data["input_files"]
    fps = files["fps.json"][vid]
    cols = files["train_df_ts_in_gt.csv"]["columns"]
    rows = [(i, dict(zip(cols, r))) for i, r in enumerate(files["train_df_ts_in_gt.csv"]["rows"])]
    rows = [(i, r) for i, r in rows if r["video_id"] == vid]
    ids = np.array([i for i, _ in rows])
    times = point_times([r["point"] for _, r in rows], fps, feature_fps=25)
    times = times + np.array([deltas.get(str(i), 0.0) for i in ids])
    classes = np.array([r["class_index"] for _, r in rows])
    props = proposals_to_snippets([p["segment"] for p in files["LAC_proposal_THUMOS14_train.json"]["results"][vid]],
                                  THUMOS_SPS)
    c = data["constants"]
    return props, times, proposal_labels(props, times, classes, ids, c["num_classes"], c["soft_value"],
                                         c["multi_flag_width"])


def _check_labels(data: dict, snapshot: dict, deltas: dict) -> None:
    for video in snapshot["videos"]:
        vid = video["video_id"]
        props, times, lab = _video_labels(data, vid, deltas.get(vid, {}))
        np.testing.assert_array_equal(props, video["proposals"], err_msg=vid)
        np.testing.assert_allclose(times, [p["time_point"] for p in video["points"]], atol=1e-12, rtol=0)
        np.testing.assert_array_equal(lab.point_label, video["point_label"], err_msg=vid)
        np.testing.assert_array_equal(lab.point_id, video["point_id"], err_msg=vid)
        np.testing.assert_allclose(lab.center_label, video["center_label"], atol=1e-12, rtol=0)
        np.testing.assert_allclose(lab.multi_flag[:, :4], video["multi_flag_first4"], atol=1e-12, rtol=0)


def test_golden_tspnet_labels_and_saliency_updates(labels_data):
    _check_labels(labels_data, labels_data["initial"], {})
    deltas: dict = {}
    for update in labels_data["updates"]:
        for vid, logits in update["center_logits"].items():
            comp = torch.sigmoid(torch.tensor(np.asarray(logits, np.float32))).numpy()
            np.testing.assert_allclose(comp, update["comp_score"][vid], atol=1e-7)
            props, _, lab = _video_labels(labels_data, vid, deltas.get(vid, {}))
            ours = saliency_deltas(props.astype(np.float32), comp, lab.point_id,
                                   lab.multi_flag[:, 0].astype(np.float32),
                                   labels_data["constants"]["up_threshold"])
            ref = update["delta_point_dict"][vid]
            assert sorted(map(str, ours)) == sorted(ref), vid
            for k, v in ref.items():
                assert abs(ours[int(k)] - v) <= 1e-6, (vid, k)
        # official quirk: the new delta replaces the old one (added to the ORIGINAL annotation)
        deltas = {vid: {k: v for k, v in d.items()} for vid, d in update["delta_point_dict"].items()}
        _check_labels(labels_data, update, deltas)


def test_golden_tspnet_proposal_file_format():
    example = read_proposal_file(shared_path("golden", "tspnet", "example_proposals.json"))
    assert set(example) == set(_load("labels.json")["input_files"]["LAC_proposal_THUMOS14_train.json"]["results"])
    assert example["video_validation_0000903"].shape == (0, 2)
    np.testing.assert_array_equal(proposals_to_snippets(example["video_validation_0000903"], THUMOS_SPS), [[0, 0]])
    assert proposals_to_snippets([[10.0, 0.0]], THUMOS_SPS)[0, 0] == 15.62  # Python round: half-even


@pytest.fixture(scope="module")
def loss_data():
    return _load("loss.json")


def test_golden_tspnet_loss_units(loss_data):
    for case in loss_data["cases"]:
        inputs = {k: torch.tensor(np.asarray(case[k], np.float64), requires_grad=True)
                  for k in ("prop_cas", "prop_attn", "prop_center")}
        out = tspnet_loss(inputs["prop_cas"].T, inputs["prop_attn"],
                          torch.tensor(np.asarray(case["proposals_point"], np.float64)),
                          inputs["prop_center"], torch.tensor(np.asarray(case["proposals_center_label"], np.float64)))
        for k, v in case["loss"].items():
            assert abs(float(out[k].detach()) - v) <= 2e-6, (case["id"], k)
        assert abs(float(out["loss_total"].detach()) - case["total"]) <= 2e-6 * 21
        out["loss_total"].backward()
        for k, g in case["grad_total"].items():
            np.testing.assert_allclose(inputs[k].grad.numpy(), g, atol=1e-6, err_msg=f"{case['id']} {k}")


def test_golden_tspnet_train_step(forward_data, loss_data):
    net = _seeded_network(forward_data["models"]["reduced"], with_values=False)
    net.train()
    net.prop_backbone.prop_fusion[2].p = 0.0
    step = loss_data["train_step"]
    totals = []
    for video in step["videos"]:
        out = net(torch.tensor(np.asarray(video["features"], np.float32)),
                  torch.tensor(np.asarray(video["proposals"], np.float32)))
        for k in ("prop_cas", "prop_attn", "prop_center"):
            ours = out[k].detach().numpy().T if k == "prop_cas" else out[k].detach().numpy()
            np.testing.assert_allclose(ours, video[k], atol=1e-4)
        terms = tspnet_loss(out["prop_cas"], out["prop_attn"], torch.tensor(np.asarray(video["proposals_point"], np.float32)),
                            out["prop_center"], torch.tensor(np.asarray(video["proposals_center_label"], np.float32)))
        for k, v in video["losses"].items():
            assert abs(float(terms[k].detach()) - v) <= 1e-5
        totals.append(terms["loss_total"])
    total = sum(totals) / len(totals)
    assert abs(float(total) - step["total_loss"]) <= 1e-5
    total.backward()
    params = dict(net.named_parameters())
    for name, g in step["grad_total_loss"].items():
        g = np.asarray(g)
        np.testing.assert_allclose(params[name].grad.numpy(), g, atol=1e-4 * max(np.abs(g).max(), 1e-12), err_msg=name)


@pytest.fixture(scope="module")
def inference_data():
    return _load("inference.json")


def test_golden_tspnet_inference_units(inference_data):
    units = inference_data["unit_cases"]
    for case in units["boundary_adaption"]:
        ours = boundary_adaption(np.asarray(case["proposals"], np.float32), np.asarray(case["score"], np.float32),
                                 case["refine_threshold"])
        np.testing.assert_allclose(ours, case["refined"], atol=2e-5, err_msg=case["id"])
    for case in units["soft_nms"]:
        np.testing.assert_allclose(soft_nms_snippets(case["input"], 0.3), case["output"], atol=1e-6, err_msg=case["id"])
    f = units["filter_segments"]
    amb = [line.split() for line in f["ambiguous_file_lines"]]
    amb = [[float(a[1]), float(a[2])] for a in amb if a[0] == f["video_id"]]
    np.testing.assert_array_equal(filter_ambiguous(f["input"], amb, THUMOS_SPS), f["output"])


def test_golden_tspnet_inference_videos(inference_data):
    c = inference_data["constants"]
    names = c["class_names"]
    amb_lines = [line.split() for line in inference_data["input_files"]["Ambiguous_test.txt"]]
    for video in inference_data["videos"]:
        props = proposals_to_snippets(video["proposals_seconds"], THUMOS_SPS)
        np.testing.assert_allclose(props.astype(np.float32), video["proposals"], atol=0)
        cas, attn, center = (np.asarray(video[k], np.float32) for k in ("prop_cas", "prop_attn", "prop_center"))
        vid_score, prop_score = proposal_scores(cas.T, attn, center)
        np.testing.assert_allclose(vid_score, video["pred_vid_score"], atol=1e-6)
        np.testing.assert_allclose(prop_score, video["prop_score"], atol=1e-6)
        rows, info = tspnet_detections(props.astype(np.float32), cas.T, attn, center, c["class_threshold"],
                                       c["refine_threshold"], c["soft_nms_sigma"])
        assert info["selected"].tolist() == video["selected_classes"], video["video_id"]
        for per in video["per_class"]:
            np.testing.assert_allclose(info["refined"][per["class"]], per["refined_proposals"], atol=2e-5)
        n = 0
        for per in video["per_class"]:
            ref = np.asarray(per["soft_nms_output"])
            np.testing.assert_allclose(rows[n:n + len(ref), :2], ref[:, :2], atol=2e-5)
            np.testing.assert_allclose(rows[n:n + len(ref), 2:], ref[:, 2:], atol=1e-6)
            n += len(ref)
        amb = [[float(a[1]), float(a[2])] for a in amb_lines if a[0] == video["video_id"]]
        kept = filter_ambiguous(rows, amb, THUMOS_SPS)
        assert len(kept) == video["filter_segments"]["n_out"]
        assert [names[int(r[2])] for r in kept] == [r["label"] for r in video["results"]]
        np.testing.assert_allclose(kept[:, 3], [r["score"] for r in video["results"]], atol=1e-6)
        np.testing.assert_allclose(kept[:, :2], [r["segment"] for r in video["results"]], atol=2e-5)

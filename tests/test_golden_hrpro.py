"""HR-Pro against the official code's golden cases (../shared/golden/hrpro; tolerances from its
README)."""
from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest
import torch
from conftest import shared_path

from tsl300.methods.hrpro import (HRProInstanceNet, HRProSnippetNet, class_soft_nms, hrpro_instance_loss,
                                  hrpro_snippet_loss, instance_predictions, match_point, memory_init,
                                  memory_update, negative_proposals, raw_proposals, regions,
                                  to_snippet_rows)
from tsl300.methods.tspnet import filter_ambiguous

T_FACTOR = 25 / 16


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "hrpro", name).read_text())


def _f32(x) -> np.ndarray:
    return np.asarray(x, np.float32)


def _weights(net: torch.nn.Module, weights: list, skip=("memory.proto_vectors",)) -> None:
    state = dict(net.state_dict())
    for w in weights:
        if w["name"] in skip:
            continue
        values = np.random.RandomState(w["seed"]).uniform(w["low"], w["high"], size=w["shape"]).astype(np.float32)
        assert hashlib.sha256(values.astype("<f4").tobytes()).hexdigest() == w["sha256"], w["name"]
        state[w["name"]] = torch.from_numpy(values)
    assert [w["name"] for w in weights] == list(state)
    net.load_state_dict(state)


def _snippet_net(cfg: dict) -> HRProSnippetNet:
    net = HRProSnippetNet(cfg["feature_dim"], cfg["num_class"], cfg["RAB_args"]["layer_num"],
                          cfg["RAB_args"]["num_heads"], cfg["RAB_args"]["dim_feedforward"]).eval()
    _weights(net, cfg["weights"])
    return net


@pytest.fixture(scope="module")
def model_s():
    return _load("model_s.json")


def test_golden_hrpro_snippet_model_small(model_s):
    cfg = model_s["configs"]["small"]
    net = _snippet_net(cfg)
    counts = cfg["parameter_counts"]
    assert sum(p.numel() for p in net.parameters()) == counts["total_parameters"]
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == counts["trainable"]
    feats = [torch.tensor(_f32(c["features"])) for c in cfg["cases"]]
    with torch.no_grad():  # memory init: zero tokens, eval mode, points of every video
        embs = [net(x)["embeded_feature"] for x in feats]
    proto = memory_init(embs, [c["point_snippets"] for c in cfg["cases"]], cfg["num_class"])
    np.testing.assert_allclose(proto[:, 0].numpy(), cfg["memory_init"]["proto_vectors"], atol=1e-5)
    net.memory.proto_vectors.data.copy_(torch.tensor(_f32(cfg["memory_init"]["proto_vectors"]))[:, None])
    np.testing.assert_allclose(net.prototype_tokens().t().numpy(), cfg["memory_init"]["prototype_tokens"], atol=1e-5)
    for case, x in zip(cfg["cases"], feats):
        trace: dict = {}
        with torch.no_grad():
            out = net(x, trace=trace)
            with_labels = net(x, torch.tensor(case["vid_label"], dtype=torch.float64))
        np.testing.assert_allclose(out["logits"], case["logits"], atol=1e-5, err_msg=case["name"])
        np.testing.assert_allclose(out["cas_fuse"], case["cas_fuse"], atol=1e-6)
        np.testing.assert_allclose(out["vid_score"], case["vid_score"], atol=1e-6)
        np.testing.assert_allclose(with_labels["vid_score"], case["vid_score_with_labels"], atol=1e-6)
        np.testing.assert_allclose(out["embeded_feature"], case["embeded_feature"], atol=1e-5)
        for layer, ref in enumerate(case["rab_out"]):
            ours = trace["rab_out"][layer].numpy()
            if isinstance(ref, dict):
                np.testing.assert_allclose(ours[ref["rows"]], ref["values"], atol=1e-5)
            else:
                np.testing.assert_allclose(ours, ref, atol=1e-5)
        for layer, ref in enumerate(case.get("attention", [])):
            np.testing.assert_allclose(trace["attention"][layer].numpy(), ref, atol=1e-6)


@pytest.fixture(scope="module")
def loss_s():
    return _load("loss_s.json")


def _check_loss_case(case: dict, proto: np.ndarray, data: dict) -> np.ndarray:
    out = {"cas_fuse": torch.tensor(_f32(case["cas_fuse"])),
           "vid_score": torch.tensor(np.asarray(case["vid_score"], np.float64)),
           "embeded_feature": torch.tensor(_f32(case["embeded_feature"]))}
    trace: dict = {}
    proto_t = torch.tensor(_f32(proto)).reshape(len(proto), 1, -1)
    terms, act_seed = hrpro_snippet_loss(out, torch.tensor(np.asarray(case["vid_label"], np.float64)),
                                         torch.tensor(_f32(case["point_label"])), proto_t, trace=trace)
    cid = case.get("id", case.get("video"))
    np.testing.assert_array_equal(act_seed, case["act_seed"], err_msg=cid)
    np.testing.assert_array_equal(trace["bkg_seed"], case["bkg_seed"], err_msg=cid)
    bkg = case["regions"]["bkg"]
    assert (None if trace["bkg_regions"] is None else [list(r) for r in trace["bkg_regions"]]) == bkg, cid
    for c, ref in case["regions"]["act"].items():
        ours = trace["act_regions"][int(c)]
        assert (None if ours is None else [list(r) for r in ours]) == ref, (cid, c)
    assert [s["class"] for s in trace["similarities"]] == [s["class"] for s in case["similarities"]]
    for ours, ref in zip(trace["similarities"], case["similarities"]):
        np.testing.assert_allclose(ours["a_sim"], ref["a_sim"], rtol=1e-5)
        np.testing.assert_allclose(ours["b_sim"], ref["b_sim"], rtol=1e-5)
        assert ours["n_act_snippets"] == ref["n_act_snippets"] and ours["n_bkg_snippets"] == ref["n_bkg_snippets"]
    for k, v in case["loss"].items():
        assert abs(float(terms[k]) - v) <= 1e-5, (cid, k, float(terms[k]), v)
    after = proto_t.clone()
    updated = memory_update(after, out["embeded_feature"], act_seed, np.asarray(case["vid_label"]),
                            data["proto_momentum"])
    if "classes_updated" in case:
        assert updated == case["classes_updated"]
    return after[:, 0].numpy()


def test_golden_hrpro_snippet_loss_designed(loss_s):
    d = loss_s["designed"]
    assert len(d["cases"]) == 17
    for case in d["cases"]:
        after = _check_loss_case(case, np.asarray(case["proto_before"]), loss_s)
        np.testing.assert_allclose(after, case["proto_after"], atol=1e-6, err_msg=case["id"])


def test_golden_hrpro_snippet_loss_chain_small(model_s, loss_s):
    cfg = model_s["configs"]["small"]
    net = _snippet_net(cfg)
    proto = np.asarray(cfg["memory_init"]["proto_vectors"], np.float32)
    for mcase, case in zip(cfg["cases"], loss_s["chain_small"]):
        case = {**case, "cas_fuse": mcase["cas_fuse"], "vid_score": mcase["vid_score_with_labels"],
                "embeded_feature": mcase["embeded_feature"], "vid_label": mcase["vid_label"],
                "point_label": _points_matrix(mcase["point_snippets"], mcase["T"], cfg["num_class"])}
        # the embeddings depend on the memory tokens: recompute with the chained memory
        net.memory.proto_vectors.data.copy_(torch.tensor(proto)[:, None])
        with torch.no_grad():
            out = net(torch.tensor(_f32(mcase["features"])), torch.tensor(mcase["vid_label"], dtype=torch.float64))
        case.update(cas_fuse=out["cas_fuse"].numpy(), vid_score=out["vid_score"].numpy(),
                    embeded_feature=out["embeded_feature"].numpy())
        proto = _check_loss_case(case, proto, loss_s)
        np.testing.assert_allclose(proto, case["proto_after"], atol=1e-6, err_msg=case["video"])


def _points_matrix(points, T, C):
    m = np.zeros((T, C), np.float32)
    for t, c in points:
        m[t, c] = 1
    return m


def test_golden_hrpro_regions_rule():
    assert regions(np.array([0, 1, 1, 0, 1, 1])) == [(1, 2), (4, 4)]
    assert regions(np.array([0, 0, 0, 0, 0, 1])) == []
    assert regions(np.zeros(5)) is None and regions(np.ones(5)) is None


@pytest.fixture(scope="module")
def inference_s():
    return _load("inference_s.json")


def _sorted_rows(rows) -> np.ndarray:
    rows = np.asarray(rows, np.float64).reshape(-1, 4)
    return rows[np.lexsort((rows[:, 1], rows[:, 0], -rows[:, 3], rows[:, 2]))]


def test_golden_hrpro_snippet_inference(inference_s):
    names = tuple(_load("model_s.json")["hyperparameters"]["class_name_lst"])
    amb = inference_s["ambiguous"]
    for video in inference_s["videos"]:
        cas, vid = _f32(video["cas_fuse"]), _f32(video["vid_score"])
        rows = raw_proposals(cas, vid, 25.0, names)  # official: 25-fps grid, the video's fps unused
        ref = [r for c in video["proposal_dict"].values() for r in c]
        assert len(rows) == len(ref), video["video_id"]
        assert sorted(set(rows[:, 2].astype(int).tolist())) == sorted(set(int(r[2]) for r in ref)) or not ref
        ours, want = _sorted_rows(rows), _sorted_rows(ref)
        np.testing.assert_allclose(ours[:, :3], want[:, :3], atol=1e-9, err_msg=video["video_id"])
        np.testing.assert_allclose(ours[:, 3], want[:, 3], atol=1e-6, rtol=1e-5)
        picked = class_soft_nms(rows, 0.3)
        windows = np.asarray([[a[1], a[2]] for a in amb if a[0] == video["video_id"]]).reshape(-1, 2)
        kept = filter_ambiguous(picked, windows, 1.0)
        preds = video["predictions"]
        assert len(kept) == len(preds), video["video_id"]
        assert [names[int(r[2])] for r in kept] == [p["label"] for p in preds]
        np.testing.assert_allclose(kept[:, :2], [p["segment"] for p in preds], atol=1e-9)
        np.testing.assert_allclose(kept[:, 3], [p["score"] for p in preds], atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def ranking():
    return _load("ranking.json")


def test_golden_hrpro_ranking(ranking):
    from tsl300.methods.hrpro import snippet_head
    from tsl300.methods.lacp import select_seed

    names = tuple(_load("model_s.json")["hyperparameters"]["class_name_lst"])
    rng = random.Random(ranking["python_random_seed"])
    for video, loaded in zip(ranking["train_videos"], ranking["load_proposals"]["train"]):
        vid = video["video_id"]
        head = snippet_head(torch.tensor(_f32(video["logits"])))
        cas = head["cas_fuse"].numpy()
        np.testing.assert_array_equal(cas[:, -1], _f32(video["bkg_score"]))
        rows = raw_proposals(cas, head["vid_score"].numpy(), 25.0, names)
        assert len(rows) == video["num_PP"], vid
        want_pp = [[*r[:2], names.index(label), r[2]] for label, rs in video["PP"].items() for r in rs]
        ours, want = _sorted_rows(rows), _sorted_rows(want_pp)
        np.testing.assert_allclose(ours[:, :3], want[:, :3], atol=1e-9)
        np.testing.assert_allclose(ours[:, 3], want[:, 3], atol=1e-6, rtol=1e-5)
        by_class = {names[int(c)]: rows[rows[:, 2] == c][:, [0, 1, 3]] for c in np.unique(rows[:, 2])}
        rp = match_point(by_class, [(p["time"], p["class"]) for p in video["points"]])
        assert set(rp) == set(video["RP"]), vid
        for label, ref in video["RP"].items():
            assert [r is None for r in rp[label]] == [r is None for r in ref], (vid, label)
            for ours_r, ref_r in zip(rp[label], ref):
                if ref_r is not None:
                    np.testing.assert_allclose(ours_r, ref_r, atol=1e-9)
        P = np.zeros((video["T"], len(names) + 1), np.float32)
        for p in video["points"]:
            P[p["snippet"], names.index(p["class"])] = 1
        _, bkg_seed = select_seed(_f32(video["bkg_score"]), P)
        np.testing.assert_array_equal(bkg_seed, video["bkg_seed"])
        draws: list = []
        neg = negative_proposals(bkg_seed, len(rows), rng, draws)
        assert len(neg) == video["num_NP"]
        assert draws == [list(d) for d in video["draws"]], vid
        np.testing.assert_array_equal(neg, np.asarray(video["NP"], np.float64).reshape(-1, 3))
        rp_rows = [r for label in rp for r in rp[label] if r is not None]
        ref_rp = np.asarray(loaded["RP"])
        ours_rp = to_snippet_rows(np.asarray(rp_rows).reshape(-1, 3), T_FACTOR)
        assert sorted(map(tuple, ours_rp.tolist())) == sorted(map(tuple, ref_rp.tolist())), vid
        pp = to_snippet_rows(rows[:, [0, 1, 3, 2]], T_FACTOR)
        assert sorted(map(tuple, pp.tolist())) == sorted(map(tuple, np.asarray(loaded["PP"]).tolist()))


def test_golden_hrpro_match_point_units(ranking):
    for case in ranking["match_point_cases"]:
        props = {k: np.asarray(v, np.float64) for k, v in case["proposals"].items()}
        rp = match_point(props, [tuple(p) for p in case["points"]])
        assert rp == case["RP"], case["id"]


@pytest.fixture(scope="module")
def model_i():
    return _load("model_i.json")


def _instance_net(data: dict) -> HRProInstanceNet:
    net = HRProInstanceNet(32, data["roi_size"]).eval()
    _weights(net, data["weights"], skip=())
    return net


def test_golden_hrpro_instance_train_batch(model_i, model_s):
    net = _instance_net(model_i)
    assert sum(p.numel() for p in net.parameters()) == model_i["parameter_counts"]["small (feature_dim 32)"]
    assert sum(p.numel() for p in HRProInstanceNet(2048).parameters()) == model_i["parameter_counts"]["full (feature_dim 2048)"]
    tb = model_i["train_batch"]
    feats = {c["name"]: c["features"] for c in model_s["configs"]["small"]["cases"]}
    regs, ious = [], []
    for i, vid in enumerate(tb["videos"]):
        n = int(sum(tb["prop_mask"][i]))
        props = torch.tensor(_f32(tb["proposals"][i])[:n])
        with torch.no_grad():
            out = net(torch.tensor(_f32(feats[vid])), props)
        np.testing.assert_allclose(out["roi"][:3].numpy(), tb["roi_features_first3"][i], atol=1e-5)
        np.testing.assert_allclose(out["roi"].double().sum(dim=(1, 2)).numpy(),
                                   tb["roi_features_sum_per_proposal"][i][:n], rtol=1e-5, atol=1e-4)
        for k, tol in (("start_reg", 1e-5), ("end_reg", 1e-5), ("iou_pred_orig", 1e-6),
                       ("prop_refined", 1e-4), ("iou_pred_refined", 1e-6)):
            np.testing.assert_allclose(out[k].numpy(), np.asarray(tb[k][i])[:n], atol=tol, err_msg=f"{vid} {k}")
        terms = hrpro_instance_loss(out, props, torch.tensor(_f32(tb["pseudo_labels"][i])),
                                    np.asarray(tb["np_random_rand_draws"][i]), model_i["iou_thresh"])
        regs.append(float(terms["loss_prop_reg"]))
        ious.append(float(terms["loss_prop_iou"]))
    assert abs(np.mean(regs) - tb["reg_loss"]) <= 1e-6
    assert abs(np.mean(ious) - tb["iou_loss"]) <= 1e-6
    rs = np.random.RandomState(tb["numpy_seed"])  # the draws: numpy's global generator, video after video
    for i, draws in enumerate(tb["np_random_rand_draws"]):
        np.testing.assert_array_equal(rs.rand(len(draws)), draws)


def test_golden_hrpro_instance_designed(model_i):
    net = _instance_net(model_i)
    for case in model_i["designed_cases"]:
        props = torch.tensor(_f32(case["proposals"])[:, :2])
        with torch.no_grad():
            out = net(torch.tensor(_f32(case["features"])), props)
        np.testing.assert_allclose(out["iou_logit"].numpy(), case["iou_logit"], atol=1e-6, err_msg=case["id"])
        np.testing.assert_allclose(out["prop_refined"].numpy(), case["prop_refined"], atol=1e-4)
        np.testing.assert_allclose(out["iou_pred_refined"].numpy(), case["iou_pred_refined"], atol=1e-6)
        terms = hrpro_instance_loss(out, props, torch.tensor(_f32(case["pseudo_labels"])),
                                    np.asarray(case["np_random_rand_draws"]).reshape(-1), model_i["iou_thresh"])
        for k, v in case["loss"].items():
            assert abs(float(terms[k]) - v) <= 1e-6, (case["id"], k)


def test_golden_hrpro_instance_test(model_i, inference_s):
    net = _instance_net(model_i)
    names = tuple(_load("model_s.json")["hyperparameters"]["class_name_lst"])
    amb = inference_s["ambiguous"]
    for video in model_i["i_test"]["videos"]:
        pp = np.asarray(video["PP"], np.float64)
        with torch.no_grad():
            out = net(torch.tensor(_f32(video["features"])), torch.tensor(pp[:, :2], dtype=torch.float32))
        out = {k: v.numpy() for k, v in out.items()}
        np.testing.assert_allclose(out["iou_pred_orig"], video["iou_pred_orig"], atol=1e-6)
        rows = instance_predictions(pp, out, T_FACTOR)
        picked = class_soft_nms(rows, 0.3)
        windows = np.asarray([[a[1], a[2]] for a in amb if a[0] == video["video_id"]]).reshape(-1, 2)
        kept = filter_ambiguous(picked, windows, 1.0)
        preds = video["predictions"]
        assert len(kept) == len(preds), video["video_id"]
        assert [names[int(r[2])] for r in kept] == [p["label"] for p in preds]
        np.testing.assert_allclose(kept[:, :2], [p["segment"] for p in preds], atol=1e-4)
        np.testing.assert_allclose(kept[:, 3], [p["score"] for p in preds], atol=1e-6, rtol=1e-5)


def _full_features(spec: dict) -> np.ndarray:
    T, D = spec["shape"]
    rs = np.random.RandomState(spec["seed"])
    f = rs.randn(T, D) * 0.8 + 0.3
    dirs = rs.randn(20, D)
    for s, e, c in spec["instances"]:
        f[s:e + 1] += dirs[c] * 1.5
    x = (np.round(np.maximum(f, 0) * 64) / 64).astype(np.float32)
    assert hashlib.sha256(x.tobytes()).hexdigest() == spec["sha256"]
    return x


@pytest.mark.slow
def test_golden_hrpro_snippet_model_full(model_s):
    """The official 2048-d, 20-class model (72.5M parameters) on its two videos."""
    cfg = model_s["configs"]["full"]
    net = _snippet_net(cfg)
    assert sum(p.numel() for p in net.parameters()) == cfg["parameter_counts"]["total_parameters"]
    feats = [torch.tensor(_full_features(c["features"])) for c in cfg["cases"]]
    with torch.no_grad():
        embs = [net(x)["embeded_feature"] for x in feats]
    proto = memory_init(embs, [c["point_snippets"] for c in cfg["cases"]], cfg["num_class"])[:, 0].double().numpy()
    ref = cfg["memory_init"]["proto_vectors"]
    np.testing.assert_allclose(proto[ref["rows"]], ref["values"], atol=2e-5)
    assert abs(proto.sum() - ref["sum"]) <= 1e-5 * abs(ref["sum"])
    net.memory.proto_vectors.data.copy_(torch.from_numpy(proto.astype(np.float32))[:, None])
    for case, x in zip(cfg["cases"], feats):
        with torch.no_grad():
            out = net(x)
        np.testing.assert_allclose(out["logits"], case["logits"], atol=2e-5, err_msg=case["name"])
        np.testing.assert_allclose(out["cas_fuse"], case["cas_fuse"], atol=1e-6)
        np.testing.assert_allclose(out["vid_score"], case["vid_score"], atol=1e-6)

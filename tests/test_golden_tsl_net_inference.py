"""Inference post-processing vs the official ``test_all.test``
(../shared/golden/tsl_net/inference.json): predictions as sets of (label, segment, score), 1e-6."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import shared_path
from tsl300.postprocess import PostprocessParams, predict_segments, video_proposals

TOL = 1e-6


@pytest.fixture(scope="module")
def golden():
    with open(shared_path("golden", "tsl_net", "inference.json")) as f:
        return json.load(f)


def official_params(constants) -> PostprocessParams:
    p = PostprocessParams()
    assert p.cas_thresholds == tuple(constants["act_thresh_cas"])
    assert p.actionness_thresholds == tuple(constants["act_thresh_agnostic"])
    assert (p.class_thresh, p.scale, p.oic_lambda, p.oic_gamma, p.nms_iou) == (
        constants["class_thresh"], constants["scale"], constants["oic_lambda"],
        constants["oic_gamma"], constants["nms_iou"])
    assert list(p.class_names) == [constants["class_dict"][k] for k in sorted(constants["class_dict"])]
    return p


def video_inputs(video):
    probs = np.asarray(video["cas_sigmoid_fuse"], dtype=np.float32)
    cas = probs[:, :-1]
    actionness = (torch.tensor(1.0) - torch.from_numpy(probs[:, -1])).numpy()  # float32 as official
    return cas, np.asarray(video["vid_score"], dtype=np.float32), actionness


def assert_same_set(ours, ref, vid):
    assert len(ours) == len(ref), f"{vid}: {len(ours)} predictions, official {len(ref)}"
    key = lambda r: (r[0], round(r[1], 4), round(r[2], 4), -r[3])
    ours_rows = sorted(((s.label, s.start, s.end, s.score) for s in ours), key=key)
    ref_rows = sorted(((r["label"], *r["segment"], r["score"]) for r in ref), key=key)
    for a, b in zip(ours_rows, ref_rows):
        assert a[0] == b[0], (vid, a, b)
        assert np.allclose(a[1:], b[1:], atol=TOL, rtol=0), (vid, a, b)


def test_golden_tsl_net_inference_per_video(golden):
    params = official_params(golden["constants"])
    for video in golden["videos"]:
        cas, vscore, actionness = video_inputs(video)
        assert cas.shape[0] == video["T"]
        ours = video_proposals(cas, vscore, video["fps"], params, actionness)
        assert_same_set(ours, video["predictions"], video["video_id"])


def test_golden_tsl_net_inference_padded_batch(golden):
    """``predict_segments`` on one padded batch of all golden videos gives the same sets."""
    params = official_params(golden["constants"])
    videos = golden["videos"]
    T = max(v["T"] for v in videos)
    cas = torch.full((len(videos), T, 2), 0.9)  # padding would create proposals if it leaked
    vs = torch.zeros(len(videos), 2)
    act = torch.ones(len(videos), T)
    mask = torch.zeros(len(videos), T, dtype=torch.bool)
    for b, v in enumerate(videos):
        c, s, a = video_inputs(v)
        cas[b, : v["T"]] = torch.from_numpy(c)
        vs[b] = torch.from_numpy(s)
        act[b, : v["T"]] = torch.from_numpy(a)
        mask[b, : v["T"]] = True
    batch = {"vids": [v["video_id"] for v in videos], "fps": [v["fps"] for v in videos], "mask": mask}
    preds = predict_segments({"cas": cas, "video_scores": vs, "actionness": act}, batch, params)
    for v in videos:
        assert_same_set(preds[v["video_id"]], v["predictions"], v["video_id"])

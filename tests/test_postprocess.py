"""Post-processing pieces against simple references: scipy's interp1d, run grouping, the OIC
loop, hard/soft NMS, seconds through the time grid, and the results JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.interpolate import interp1d

from tsl300.data.types import Segment
from tsl300.errors import RecipeError
from tsl300.postprocess import (PostprocessParams, hard_nms, outer_inner_contrast, predict_segments,
                                results_dict, select_classes, soft_nms, threshold_runs,
                                upsample_linear, video_proposals, write_results_json)
from tsl300.timegrid import upsampled_end, upsampled_start


def test_upsample_matches_interp1d_extrapolate_bitwise():
    rng = np.random.default_rng(0)
    for T in (2, 3, 17, 250):
        x = rng.random((T, 2, 1)).astype(np.float32)
        ref = interp1d(np.arange(T), x, kind="linear", axis=0, fill_value="extrapolate")(
            np.arange(0, T, 1 / 24))
        np.testing.assert_array_equal(upsample_linear(x, 24), ref)
    assert upsample_linear(np.array([[0.3]], np.float32), 4).shape == (4, 1)


def test_select_classes():
    assert select_classes(np.array([0.2, 0.7]), 0.5).tolist() == [1]
    assert select_classes(np.array([0.6, 0.7]), 0.5).tolist() == [0, 1]
    assert select_classes(np.array([0.2, 0.1]), 0.5).tolist() == [0]


def test_threshold_runs_vs_loop():
    rng = np.random.default_rng(1)
    track = rng.random(200) - 0.1
    thr = np.array([0.0, 0.3, 0.6])
    rows, s, e = threshold_runs(track, thr, skip_lone_first_position=False)
    expected = []
    for i, th in enumerate(thr):
        pos = np.flatnonzero(np.where(track < th, 0, track) > 0)
        for run in np.split(pos, np.flatnonzero(np.diff(pos) != 1) + 1):
            if len(run):
                expected.append((i, run[0], run[-1]))
    assert list(zip(rows.tolist(), s.tolist(), e.tolist())) == expected
    lone = np.array([0.9, 0.0, 0.0])
    assert len(threshold_runs(lone, np.array([0.5]), True)[0]) == 0  # official quirk
    assert len(threshold_runs(lone, np.array([0.5]), False)[0]) == 1


def test_oic_vs_loop():
    rng = np.random.default_rng(2)
    track = rng.random((1, 300))
    starts, ends = np.array([0, 40, 100, 290]), np.array([10, 99, 100, 299])
    lam = 0.25
    got = outer_inner_contrast(track, np.zeros(4, int), starts, ends, lam)
    for k, (s, e) in enumerate(zip(starts, ends)):
        L = e - s + 1
        lo, hi = max(0, int(s - lam * L)), min(299, int(e + lam * L))
        outer = list(range(lo, s)) + list(range(e + 1, hi + 1))
        want = track[0, s: e + 1].mean() - (track[0, outer].mean() if outer else 0)
        assert got[k] == pytest.approx(want, abs=1e-12)


def test_hard_nms_plus_one_inflates_short_overlaps():
    segs = np.array([[0.0, 0.4], [0.3, 0.7], [5.0, 6.0]])
    scores = np.array([0.9, 0.8, 0.7])
    assert hard_nms(segs, scores, 0.5, plus_one=False).tolist() == [0, 1, 2]  # IoU 0.14
    assert hard_nms(segs, scores, 0.5, plus_one=True).tolist() == [0, 2]      # (1.1)/(2.8-1.1)


def test_soft_nms_decays_instead_of_dropping():
    segs = np.array([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0]])
    keep, scores = soft_nms(segs, np.array([0.9, 0.8, 0.5]), sigma=0.5)
    assert keep.tolist() == [0, 2, 1]
    assert scores[2] == pytest.approx(0.8 * np.exp(-(0.9 ** 2) / 0.5))


def test_video_proposals_times_come_from_the_time_grid():
    cas = np.zeros((10, 2), np.float32)
    cas[3:6, 1] = 0.9
    params = PostprocessParams(cas_thresholds=(0.5,), actionness_thresholds=(), class_thresh=0.5)
    segs = video_proposals(cas, np.array([0.1, 0.8], np.float32), 25.0, params)
    assert len(segs) == 1 and segs[0].label == "p"
    up = upsample_linear(cas[:, 1:], 24)[:, 0]
    idx = np.flatnonzero(up >= 0.5)
    assert segs[0].start == pytest.approx(upsampled_start(idx[0], 25.0, 24))
    assert segs[0].end == pytest.approx(upsampled_end(idx[-1], 25.0, 24))
    # inner = mean over the run (ramps included); the margins hold values < 0.5, zeroed
    assert segs[0].score == pytest.approx(up[idx].mean() + 0.3 * np.float32(0.8), abs=1e-9)


def test_predict_segments_variants_and_json(tmp_path):
    rng = np.random.default_rng(3)
    cas = torch.from_numpy(rng.random((2, 30, 2)).astype(np.float32))
    scores = {"cas": cas, "video_scores": torch.tensor([[0.7, 0.2], [0.6, 0.9]])}
    batch = {"vids": ["a", "b"], "fps": [25.0, 30.0], "lengths": torch.tensor([30, 12])}
    for nms in ("hard", "soft", "none"):
        preds = predict_segments(scores, batch, PostprocessParams(nms=nms, max_proposals=5))
        assert set(preds) == {"a", "b"} and all(0 < len(v) <= 5 for v in preds.values())
        assert max(s.end for s in preds["b"]) <= 12 * 16 / 30.0 + 1e-9  # padding never used
    path = write_results_json(preds, tmp_path / "out" / "pred.json")
    data = json.loads(path.read_text())
    assert data["version"] == "VERSION 1.3" and data["external_data"] == {}
    first = data["results"]["a"][0]
    assert set(first) == {"label", "score", "segment"} and len(first["segment"]) == 2
    assert results_dict({"v": [Segment(1.0, 2.0, "n", 0.5)]})["results"]["v"] == [
        {"label": "n", "score": 0.5, "segment": [1.0, 2.0]}]


def test_params_validation():
    with pytest.raises(RecipeError, match="unknown"):
        PostprocessParams.from_dict({"nms_thresh": 0.5})
    with pytest.raises(RecipeError, match="nms"):
        PostprocessParams.from_dict({"nms": "fast"})
    p = PostprocessParams.from_dict({"oic_lambda": 0.25, "oic_gamma": 0.2, "cas_thresholds": [0.1]})
    assert (p.oic_lambda, p.oic_gamma, p.cas_thresholds) == (0.25, 0.2, (0.1,))

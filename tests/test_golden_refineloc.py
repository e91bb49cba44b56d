"""RefineLoc's distinctive parts against the official code's golden cases
(``golden/refineloc``: loss, test-time detections, pseudo ground truth across iterations)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import golden_names, shared_path
from tsl300.methods.refineloc import (OFFICIAL_NUMPY_SEED, PseudoGroundTruth, RefineLocLossConfig,
                                      RefinementConfig, VideoRecord, detect, pseudo_foreground,
                                      refineloc_loss, true_foreground, video_probabilities)


def _load(name: str) -> dict:
    return json.loads(shared_path("golden", "refineloc", name).read_text())


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


# ------------------------------------------------------------------------------------- loss
def _loss_config(cfg: dict) -> RefineLocLossConfig:
    return RefineLocLossConfig(alpha_l1=cfg["alpha_l1_loss"],
                               alpha_group_sparsity=cfg["alpha_group_sparsity_loss"],
                               alpha_pseudo_gt=cfg["alpha_pseudo_gt_loss"],
                               weighted_pseudo_gt=bool(cfg["weighted_psgt_loss"]))


def _batch(videos: list[dict]):
    """Pad videos of different lengths into one batch (exercises the masks)."""
    t_max = max(len(v["cas"]) for v in videos)
    c, d = len(videos[0]["cas"][0]), len(videos[0]["attention"][0])
    cas = torch.zeros(len(videos), t_max, c)
    att = torch.zeros(len(videos), t_max, d)
    pgt = torch.full((len(videos), t_max), -1, dtype=torch.long)
    mask = torch.zeros(len(videos), t_max, dtype=torch.bool)
    for i, v in enumerate(videos):
        t = len(v["cas"])
        cas[i, :t] = torch.from_numpy(_f32(v["cas"]))
        att[i, :t] = torch.from_numpy(_f32(v["attention"]))
        pgt[i, :t] = torch.tensor(v["pseudo_gt"])
        mask[i, :t] = True
    target = torch.nn.functional.one_hot(torch.tensor([v["label"] for v in videos]), c).float()
    return cas, att, target, pgt, mask


LOSS_KEYS = ("loss", "video_label_loss", "l1_loss", "group_sparsity_loss", "pseudo_gt_loss")


def test_golden_refineloc_loss_per_video_and_batch():
    cases = _load("loss.json")["cases"]
    assert len(cases) == 7
    for case in cases:
        config = _loss_config(case["config"])
        w = case["fg_class_loss_weight"]
        for video, expected in zip(case["videos"], case["expected_per_video"]):
            got = refineloc_loss(*_batch([video])[:4], w, config, mask=_batch([video])[4])
            for key in LOSS_KEYS:
                assert got[key].item() == pytest.approx(expected[key], rel=1e-5, abs=0), \
                    (case["name"], key)  # README: 1e-5 relative
        cas, att, target, pgt, mask = _batch(case["videos"])
        got = refineloc_loss(cas, att, target, pgt, w, config, mask=mask)
        for key in LOSS_KEYS:
            assert got[key].item() == pytest.approx(case["expected_batch"][key], rel=1e-5,
                                                    abs=0), (case["name"], key)


# -------------------------------------------------------------------------------- inference
def test_golden_refineloc_inference_detections():
    groups = _load("inference.json")["groups"]
    n_checked = 0
    for group in groups:
        cfg = group["config"]
        for video in group["videos"]:
            cas, att = _f32(video["cas"]), _f32(video["attention"])
            _, _, v = video_probabilities(cas, att)
            np.testing.assert_allclose(v, video["video_score"], rtol=1e-5, atol=1e-7)
            dets = detect(cas, att, video["fps"], cfg["top_k_labels"], cfg["min_cas_score"],
                          cfg["min_attention_score"], cfg["refinement_padding"])
            expected = video["detections"]
            assert len(dets) == len(expected), video["video_name"]
            for got, exp in zip(dets, expected):
                assert got["label"] == exp["label"]
                assert abs(got["t-start"] - exp["t-start"]) < 1e-9
                assert abs(got["t-end"] - exp["t-end"]) < 1e-9
                assert got["score"] == pytest.approx(exp["score"], rel=1e-5)
            n_checked += len(expected)
    assert n_checked > 0


# ---------------------------------------------------------------------------- pseudo labels
def _records(videos: list[dict], label_names: list[str]) -> list[VideoRecord]:
    out = []
    for v in videos:
        segments = [(r["t-start"], r["t-end"]) for r in v["ground_truth"]]
        true = true_foreground(segments, v["T"], v["fps"], v["num_frames"])
        np.testing.assert_array_equal(true, v["true_bg_fg"])
        out.append(VideoRecord(v["video_name"], v["T"], v["fps"], tuple(v["labels"]), true))
    return out


def _refinement_config(cfg: dict) -> RefinementConfig:
    return RefinementConfig(generator=cfg["pseudo_gt_generator_type"],
                            top_k=cfg["refinement_top_k_labels"],
                            min_cas=cfg["refinement_min_cas_score"],
                            min_attention=cfg["refinement_min_attention_score"],
                            padding=cfg["refinement_padding"],
                            from_m_iterations=cfg["refinement_from_m_iterations"],
                            dropout=cfg["pseudo_gt_dropout"])


def _outputs(videos: list[dict], k: int) -> dict:
    return {v["video_name"]: (_f32(v["outputs_per_iteration"][k]["cas"]),
                              _f32(v["outputs_per_iteration"][k]["attention"])) for v in videos}


def _check_split(state: PseudoGroundTruth, stats: dict, expected: dict, label_names: list[str]):
    exp_dets = expected["detections_this_iteration"] or []
    got_dets = state.last_detections
    assert len(got_dets) == len(exp_dets)
    for (name, got), exp in zip(got_dets, exp_dets):
        assert name == exp["video-name"]
        assert label_names[got["label"]] == exp["label"]
        assert abs(got["t-start"] - exp["t-start"]) < 1e-9 and abs(got["t-end"] - exp["t-end"]) < 1e-9
        assert got["score"] == pytest.approx(exp["score"], rel=1e-5)
    assert state.prediction_sets_used == expected["num_prediction_sets_used"], expected["num_prediction_sets_used"]
    for exp in expected["videos"]:
        labels = state.labels[exp["video_name"]]
        np.testing.assert_array_equal(labels, exp["pseudo_gt"])
        np.testing.assert_array_equal(np.flatnonzero(labels == -1), exp["dropped_snippets"])
    for key, value in expected["stats"].items():
        assert stats[key] == pytest.approx(value, abs=1e-12), key
    assert state.fg_class_loss_weight == pytest.approx(expected["fg_class_loss_weight"], abs=1e-12)


def _scenario_ids():
    return golden_names("refineloc", "pseudo_gt.json", key="scenarios")


@pytest.mark.parametrize("name", _scenario_ids())
def test_golden_refineloc_pseudo_ground_truth(name):
    scenario = {s["name"]: s for s in _load("pseudo_gt.json")["scenarios"]}[name]
    labels = scenario["label_names"]
    config = _refinement_config(scenario["config"])
    train = PseudoGroundTruth(_records(scenario["train_videos"], labels), config)
    valid = PseudoGroundTruth(_records(scenario["valid_videos"], labels), config)
    # Official order: both datasets seed the global generator at construction (the valid set
    # last), then each iteration refines the train set, then the valid set.
    rng = np.random.RandomState(scenario["numpy_seed_at_dataset_init"])
    assert scenario["numpy_seed_at_dataset_init"] == OFFICIAL_NUMPY_SEED
    for k, expected in enumerate(scenario["refinement_iterations"]):
        for state, split, key in ((train, scenario["train_videos"], "train"),
                                  (valid, scenario["valid_videos"], "valid")):
            stats = state.update(_outputs(split, k), rng)
            _check_split(state, stats, expected[key], labels)


def test_golden_refineloc_extra_snippet_quirk_and_fix():
    """The official pseudo foreground marks one snippet past each detection's end; the fix does
    not. Checked on the first golden detection of the best-THUMOS14 scenario."""
    scenario = _load("pseudo_gt.json")["scenarios"][0]
    det = scenario["refinement_iterations"][0]["train"]["detections_this_iteration"][0]
    video = next(v for v in scenario["train_videos"] if v["video_name"] == det["video-name"])
    quirk = pseudo_foreground([det], video["T"], video["fps"], extra_snippet=True)
    fixed = pseudo_foreground([det], video["T"], video["fps"], extra_snippet=False)
    first = round(det["t-start"] * video["fps"] / 16)
    last_exclusive = round(det["t-end"] * video["fps"] / 16)
    assert np.flatnonzero(fixed).tolist() == list(range(first, last_exclusive))
    assert np.flatnonzero(quirk).tolist() == list(range(first, last_exclusive + 1))

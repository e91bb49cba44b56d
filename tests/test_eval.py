"""The detection evaluator: hand-computed figures, official quirks, edge cases, bad input, and
agreement with the loop-per-prediction reference on many random cases (ties included)."""
from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

from tsl300.data.types import Segment, Video
from tsl300.errors import DataError
from tsl300.eval import TSL300_TIOUS, evaluate_detection, evaluate_segments, format_table

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from bench_eval import reference_evaluate  # noqa: E402


def ann(s, e, label):
    return {"segment": [s, e], "label": label}


def det(s, e, label, score):
    return {"segment": [s, e], "label": label, "score": score}


def tiny_case():
    """Video a: 'p' [0,10], [20,30] and 'n' [40,50] (strings, as in the TSL-300 gt.json);
    a train video whose label 'x' must be ignored. 'n' gets no prediction."""
    gt = {
        "database": {
            "a": {"subset": "test", "annotations": [
                ann("0", "10", "p"), ann("20", "30", "p"), ann("40", "50", "n")]},
            "t": {"subset": "train", "annotations": [ann(0, 5, "x")]},
        }
    }
    pred = {
        "results": {
            "a": [
                det(0, 10, "p", 0.9),  # exact: TP
                det(1, 11, "p", 0.8),  # duplicate of [0,10], tIoU 9/11: FP (already taken)
                det(20, 25, "p", 0.7),  # tIoU 0.5 with [20,30]
            ],
            "b": [det(0, 5, "p", 0.6)],  # video without ground truth: FP
        }
    }
    return gt, pred


def assert_same_result(got: dict, want: dict, atol: float = 1e-12) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key == "class_index":
            assert list(got[key].items()) == list(value.items())
        else:
            np.testing.assert_allclose(got[key], value, rtol=0, atol=atol, err_msg=key)


def test_hand_computed_tiny_case():
    gt, pred = tiny_case()
    r = evaluate_detection(gt, pred, tiou_thresholds=[0.5, 0.6])
    assert list(r["class_index"].items()) == [("p", 0), ("n", 1)]
    # thr 0.5: ranked TP = 1,0,1,0 -> P = 1, 1/2, 2/3, 1/2; R = 1/2, 1/2, 1, 1
    #   AP = 1/2 * 1 + 1/2 * 2/3 = 5/6; mean P = 2/3; mean R = 3/4
    # thr 0.6: ranked TP = 1,0,0,0 -> P = 1, 1/2, 1/3, 1/4; R = 1/2 (x4)
    #   AP = 1/2; mean P = 25/48; mean R = 1/2
    # 'n' has no prediction: AP 0, P = R = 0 (the official code crashes here).
    np.testing.assert_allclose(r["AP_per_class_per_tiou"], [[5 / 6, 0], [0.5, 0]], atol=1e-15)
    np.testing.assert_allclose(r["mAP"], [5 / 12, 0.25], atol=1e-15)
    assert r["average_mAP"] == pytest.approx((5 / 12 + 0.25) / 2, abs=1e-15)
    np.testing.assert_allclose(r["precision_curve_mean"], [1 / 3, 25 / 96], atol=1e-15)
    np.testing.assert_allclose(r["recall_curve_mean"], [3 / 8, 1 / 4], atol=1e-15)
    np.testing.assert_allclose(r["F2"], [15 / 41, 125 / 496], atol=1e-15)
    assert r["num_ground_truth"] == [2, 1] and r["num_predictions"] == [4, 0]
    assert r["average_AP_per_class"] == pytest.approx([(5 / 6 + 0.5) / 2, 0.0])


def test_equal_tiou_prefers_the_later_segment():
    """A prediction at equal tIoU with two segments takes the later one (the official reversed
    argsort); the next prediction, exactly on that later segment, is then a false positive."""
    gt = {"database": {"v": {"subset": "test", "annotations": [ann(0, 10, "p"), ann(10, 20, "p")]}}}
    pred = {"results": {"v": [det(5, 15, "p", 0.9), det(10, 20, "p", 0.8)]}}
    r = evaluate_detection(gt, pred, tiou_thresholds=[0.3])
    # TP, FP: P = 1, 1/2; R = 1/2, 1/2 -> AP 1/2 (it would be 1 if [0,10] were taken first)
    assert r["AP_per_class_per_tiou"] == [[pytest.approx(0.5)]]


def test_highest_tiou_unmatched_segment_is_taken():
    """The second prediction skips the taken best segment and falls back to the next one."""
    gt = {"database": {"v": {"subset": "test", "annotations": [ann(0, 10, "p"), ann(7, 17, "p")]}}}
    pred = {"results": {"v": [det(0, 10, "p", 0.9), det(1, 11, "p", 0.8)]}}
    # second: tIoU 9/11 with [0,10] (taken), 4/16 with [7,17]: TP at 0.2, FP at 0.3
    r = evaluate_detection(gt, pred, tiou_thresholds=[0.2, 0.3])
    np.testing.assert_allclose(r["AP_per_class_per_tiou"], [[1.0], [0.5]])


def test_empty_predictions_give_zeros():
    gt, _ = tiny_case()
    r = evaluate_detection(gt, {"results": {}})
    assert r["tiou_thresholds"] == TSL300_TIOUS
    assert r["mAP"] == [0.0] * 5 and r["average_mAP"] == 0.0 and r["F2"] == [0.0] * 5
    assert r["recall_curve_mean"] == [0.0] * 5


def test_unknown_label_is_an_error_or_ignored():
    gt, pred = tiny_case()
    bad = copy.deepcopy(pred)
    bad["results"]["a"].append(det(0, 3, "positive", 0.99))
    with pytest.raises(DataError, match="'positive'.*video 'a'"):
        evaluate_detection(gt, bad)
    ignored = evaluate_detection(gt, bad, unknown_labels="ignore")
    assert ignored.pop("num_ignored_predictions") == 1
    plain = evaluate_detection(gt, pred)
    assert plain.pop("num_ignored_predictions") == 0
    assert ignored == plain


def test_subset_none_keeps_every_video():
    gt, pred = tiny_case()
    r = evaluate_detection(gt, pred, subset=None)
    assert list(r["class_index"]) == ["p", "n", "x"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p["results"]["a"][0].update(score=float("nan")), r"video 'a', prediction 0: score is nan"),
        (lambda p: p["results"]["b"][0].update(segment=[5, 1]), r"video 'b', prediction 0: segment start 5.0 > end 1.0"),
        (lambda p: p["results"]["a"][1].update(segment=[1, float("inf")]), r"video 'a', prediction 1: .*finite"),
        (lambda p: p["results"]["a"][2].pop("score"), r"video 'a', prediction 2: needs"),
        (lambda p: p["results"]["a"][2].update(score="0.5"), r"video 'a', prediction 2: 'score' must be a number"),
        (lambda p: p["results"]["a"][0].update(segment=[1, 2, 3]), r"video 'a', prediction 0: 'segment' must be"),
        (lambda p: p["results"]["a"][0].update(label=1), r"'label' must be a string"),
        (lambda p: p["results"].update(a={"x": 1}), r"video 'a': predictions must be a list"),
        (lambda p: p.pop("results"), r"'results'"),
    ],
)
def test_bad_predictions_name_the_file_and_the_item(tmp_path, mutate, message):
    gt, pred = tiny_case()
    mutate(pred)
    path = tmp_path / "my_pred.json"
    path.write_text(json.dumps(pred, allow_nan=True))
    with pytest.raises(DataError, match=message) as info:
        evaluate_detection(gt, path)
    assert "my_pred.json" in str(info.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda g: g["database"]["a"]["annotations"][0].update(segment=["9", "3"]), r"video 'a', annotation 0: segment start 9.0 > end 3.0"),
        (lambda g: g["database"]["a"]["annotations"][1].update(segment=["x", "3"]), r"annotation 1: segment bounds must be numbers"),
        (lambda g: g["database"]["a"].pop("subset"), r"video 'a' needs an object with a 'subset'"),
        (lambda g: g["database"]["a"].pop("annotations"), r"video 'a' needs an 'annotations' list"),
        (lambda g: g["database"]["a"].update(subset="val"), r"no ground-truth segments in subset 'test'"),
        (lambda g: g.pop("database"), r"'database'"),
    ],
)
def test_bad_ground_truth_names_the_file(tmp_path, mutate, message):
    gt, pred = tiny_case()
    mutate(gt)
    path = tmp_path / "my_gt.json"
    path.write_text(json.dumps(gt))
    with pytest.raises(DataError, match=message) as info:
        evaluate_detection(path, pred)
    assert "my_gt.json" in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="missing.json: ground truth file not found"):
        evaluate_detection(tmp_path / "missing.json", {"results": {}})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    gt, _ = tiny_case()
    with pytest.raises(DataError, match="broken.json: not valid JSON"):
        evaluate_detection(gt, broken)


def test_bad_thresholds_are_rejected():
    gt, pred = tiny_case()
    for bad in ([], [0.0], [1.5], [[0.1]]):
        with pytest.raises(ValueError, match="tIoU thresholds"):
            evaluate_detection(gt, pred, tiou_thresholds=bad)


def test_zero_length_segments():
    """Two zero-length segments: tIoU 1 when they coincide, 0 otherwise (never NaN)."""
    gt = {"database": {"v": {"subset": "test", "annotations": [ann(3, 3, "p"), ann(7, 7, "p")]}}}
    pred = {"results": {"v": [det(3, 3, "p", 0.9), det(5, 5, "p", 0.8)]}}
    r = evaluate_detection(gt, pred, tiou_thresholds=[0.5])
    # TP then FP: P = 1, 1/2; R = 1/2, 1/2 -> AP 1/2
    assert r["AP_per_class_per_tiou"] == [[pytest.approx(0.5)]]
    assert np.isfinite(r["F2"]).all()


def test_segments_api_matches_the_json_api():
    gt, pred = tiny_case()
    seg_gt = {
        vid: [Segment(float(a["segment"][0]), float(a["segment"][1]), a["label"]) for a in v["annotations"]]
        for vid, v in gt["database"].items() if v["subset"] == "test"
    }
    seg_pred = {
        vid: [Segment(d["segment"][0], d["segment"][1], d["label"], np.float32(d["score"])) for d in items]
        for vid, items in pred["results"].items()
    }
    want = evaluate_detection(gt, pred)
    assert_same_result(evaluate_segments(seg_gt, seg_pred), want)
    videos = [Video(vid=v, fps=25.0, features={}, segments=s, subset="test") for v, s in seg_gt.items()]
    assert_same_result(evaluate_segments(videos, seg_pred), want)
    seg_pred["b"][0].score = float("nan")
    with pytest.raises(DataError, match="video 'b', segment 0: score is nan"):
        evaluate_segments(seg_gt, seg_pred)


def test_segments_api_drops_classes_absent_from_the_split():
    """A model class with no segment in a small split must not stop training-time evaluation;
    the dropped predictions are counted, and cannot change the other classes' figures."""
    seg_gt = {"a": [Segment(0, 10, "p")]}
    only_p = {"a": [Segment(0, 10, "p", 0.9)]}
    with_n = {"a": [Segment(0, 10, "p", 0.9), Segment(20, 30, "n", 0.95)]}
    base, extra = evaluate_segments(seg_gt, only_p), evaluate_segments(seg_gt, with_n)
    assert extra["num_ignored_predictions"] == 1 and base["num_ignored_predictions"] == 0
    assert extra["mAP"] == base["mAP"] == [1.0] * 5
    with pytest.raises(DataError, match="label 'n'"):
        evaluate_segments(seg_gt, with_n, unknown_labels="error")


def test_format_table_shows_percent_per_threshold():
    gt, pred = tiny_case()
    table = format_table(evaluate_detection(gt, pred, tiou_thresholds=[0.5, 0.6]))
    lines = table.splitlines()
    assert lines[0].split() == ["tIoU", "0.50", "0.60", "Avg"]
    assert [line.split() for line in lines if line.startswith("mAP")] == [["mAP", "41.67", "25.00", "33.33"]]
    assert any(line.split()[:3] == ["AP", "p", "83.33"] for line in lines)
    assert any(line.split()[:3] == ["F2", "36.59", "25.20"] for line in lines)


def random_case(rng: np.random.Generator, n_videos: int, n_classes: int, coarse: bool):
    """Random ground truth and predictions; ``coarse`` puts everything on an integer grid
    with few distinct scores, so equal tIoUs, duplicates and equal scores are frequent."""
    labels = [f"c{i}" for i in rng.permutation(n_classes)]
    database, results = {}, {}
    for v in range(n_videos):
        anns, dets = [], []
        for _ in range(rng.integers(0, 8)):
            s = rng.integers(0, 16) if coarse else rng.uniform(0, 40)
            e = s + (rng.integers(0, 5) if coarse else rng.uniform(0, 8))
            anns.append(ann(str(float(s)), str(float(e)), labels[rng.integers(n_classes)]))
        for _ in range(rng.integers(0, 15)):
            s = rng.integers(0, 16) if coarse else rng.uniform(0, 40)
            e = s + (rng.integers(0, 5) if coarse else rng.uniform(0, 8))
            score = rng.integers(0, 4) / 4 if coarse else rng.uniform()
            dets.append(det(float(s), float(e), labels[rng.integers(n_classes)], float(score)))
        database[f"v{v}"] = {"subset": "test", "annotations": anns}
        results[f"v{v}" if rng.uniform() > 0.1 else f"other{v}"] = dets
    database["all_classes"] = {"subset": "test", "annotations": [ann(0, 1, lab) for lab in labels]}
    return {"database": database}, {"results": results}


@pytest.mark.parametrize("coarse", [True, False])
def test_agrees_with_the_reference_on_random_cases(coarse):
    rng = np.random.default_rng(7 if coarse else 8)
    thresholds = [[0.1, 0.15, 0.2, 0.25, 0.3], [0.3, 0.5, 0.7], [0.05, 1.0]]
    for i in range(150):
        gt, pred = random_case(rng, int(rng.integers(1, 8)), int(rng.integers(1, 4)), coarse)
        thr = thresholds[i % len(thresholds)]
        got = evaluate_detection(gt, pred, tiou_thresholds=thr)
        for style in ("python", "activitynet") + (("pandas",) if i < 5 else ()):
            want = reference_evaluate(gt, pred, thr, style=style)
            assert_same_result({k: got[k] for k in want}, want)

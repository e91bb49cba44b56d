"""Hypothesis fuzzing of the evaluator's inputs (``tsl300.eval.evaluate_detection`` and
``tsl300 eval``): ground-truth and prediction files that are valid or carry one fault (start >
end, NaN/inf bounds or scores, scores that are not numbers, missing fields, unknown labels,
wrong types, a video id listed twice, malformed JSON).

A broken file gives a :class:`~tsl300.errors.DataError` naming it (exit code 1 from the CLI,
no traceback); a valid pair gives the same mAP as a plain, loop-based reference of the
ActivityNet rule written here, so no input yields a wrong number.
"""
from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tsl300.cli import main
from tsl300.errors import DataError, Tsl300Error
from tsl300.eval import evaluate_detection

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIOUS = [0.1, 0.3, 0.5]
VIDS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_eval")


# ----------------------------------------------------------------------------- reference


def reference_map(gt: dict, results: dict, tious) -> list[float]:
    """mAP per tIoU by the ActivityNet rule, one prediction at a time (distinct scores)."""
    segments = [(v, float(a["segment"][0]), float(a["segment"][1]), a["label"])
                for v, e in gt["database"].items() if e["subset"] == "test" for a in e["annotations"]]
    classes = list(dict.fromkeys(s[3] for s in segments))
    preds = [(v, float(p["segment"][0]), float(p["segment"][1]), p["label"], float(p["score"]))
             for v, items in results.items() for p in items]
    out = []
    for t in tious:
        aps = []
        for c in classes:
            mine = sorted((p for p in preds if p[3] == c), key=lambda p: -p[4])
            truth = [s for s in segments if s[3] == c]
            used = [False] * len(truth)
            tp = []
            for v, ps, pe, _, _ in mine:
                best, best_iou = None, -1.0
                for j, (gv, gs, ge, _) in enumerate(truth):
                    if gv != v or used[j]:
                        continue
                    inter = max(0.0, min(pe, ge) - max(ps, gs))
                    union = (ge - gs) + (pe - ps) - inter
                    iou = inter / union
                    if iou >= t and iou >= best_iou:  # ties: the later segment
                        best, best_iou = j, iou
                if best is not None:
                    used[best] = True
                tp.append(best is not None)
            if not mine:
                aps.append(0.0)
                continue
            tp_cum = np.cumsum(tp)
            recall = tp_cum / len(truth)
            precision = tp_cum / np.arange(1, len(mine) + 1)
            mprec = np.concatenate([[0], precision, [0]])
            mrec = np.concatenate([[0], recall, [1]])
            mprec = np.maximum.accumulate(mprec[::-1])[::-1]
            aps.append(float(np.sum(np.diff(mrec) * mprec[1:])))
        out.append(float(np.mean(aps)))
    return out


# ----------------------------------------------------------------------------- inputs

TIME = st.integers(-20, 400).map(lambda x: x / 4)
SEGMENT = st.tuples(TIME, TIME).filter(lambda s: s[0] != s[1]).map(sorted)


@st.composite
def valid_pair(draw):
    gt, results = {}, {}
    for vid in draw(st.lists(st.sampled_from(VIDS), min_size=1, max_size=3, unique=True)):
        segs = draw(st.lists(SEGMENT, max_size=3, unique_by=tuple))
        gt[vid] = {"subset": draw(st.sampled_from(["test", "test", "train"])), "annotations": [
            {"segment": draw(st.sampled_from([list(s), [str(x) for x in s]])),
             "label": draw(st.sampled_from(["p", "n"]))} for s in segs]}
    labels = {a["label"] for e in gt.values() if e["subset"] == "test" for a in e["annotations"]}
    for vid in draw(st.lists(st.sampled_from(VIDS + ["unseen"]), max_size=3, unique=True)):
        results[vid] = [{"segment": list(s), "label": draw(st.sampled_from(sorted(labels) or ["p"])),
                         "score": 0.0} for s in draw(st.lists(SEGMENT, max_size=4))]
    items = [p for ps in results.values() for p in ps]
    scores = draw(st.lists(st.integers(0, 10 ** 6), min_size=len(items), max_size=len(items), unique=True))
    for item, score in zip(items, scores):
        item["score"] = score / 10 ** 6
    return {"database": gt}, {"results": results}


PRED_FAULTS = {
    "start_after_end": lambda p, d: {**p, "segment": [p["segment"][1] + 1, p["segment"][0]]},
    "nan_score": lambda p, d: {**p, "score": d.draw(st.sampled_from([math.nan, math.inf, -math.inf]))},
    "score_not_number": lambda p, d: {**p, "score": d.draw(st.sampled_from(["0.5", None, True, False, [0.5]]))},
    "nan_bound": lambda p, d: {**p, "segment": [math.nan, 1.0]},
    "bad_segment": lambda p, d: {**p, "segment": d.draw(st.sampled_from(
        [[1.0], [1, 2, 3], "1-2", None, ["a", 2], [False, 2], [0, True]]))},
    "unknown_label": lambda p, d: {**p, "label": d.draw(st.sampled_from(["x", "positive", 1, None]))},
    "missing_score": lambda p, d: {k: v for k, v in p.items() if k != "score"},
    "not_an_object": lambda p, d: d.draw(st.sampled_from([[], "p", 3])),
}
GT_FAULTS = {
    "gt_start_after_end": lambda a, d: {**a, "segment": [float(a["segment"][1]) + 1, a["segment"][0]]},
    "gt_nan_bound": lambda a, d: {**a, "segment": ["nan", 3]},
    "gt_bool_bound": lambda a, d: {**a, "segment": [False, 3]},
    "gt_label_not_string": lambda a, d: {**a, "label": d.draw(st.sampled_from([0, None, ["p"]]))},
    "gt_missing_label": lambda a, d: {"segment": a["segment"]},
}
FILE_FAULTS = ("duplicate_gt_video", "duplicate_pred_video", "truncated_json", "no_results", "no_database")


def _object_text(pairs) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


def _run_cli(gt_path, pred_path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["eval", "--gt", str(gt_path), "--pred", str(pred_path), "--tiou", "0.1,0.3,0.5"])
    return code, err.getvalue()


@FUZZ
@given(pair=valid_pair(), data=st.data(),
       fault=st.sampled_from([None, None, *PRED_FAULTS, *GT_FAULTS, *FILE_FAULTS]))
def test_evaluator_inputs(folder, pair, data, fault):
    gt, pred = pair
    preds = [(v, i) for v, items in pred["results"].items() for i in range(len(items))]
    anns = [(v, i) for v, e in gt["database"].items() if e["subset"] == "test" for i in range(len(e["annotations"]))]
    has_segments = bool(anns)
    broken = not has_segments  # an evaluation without any ground-truth segment is refused
    if fault in PRED_FAULTS and preds:
        v, i = data.draw(st.sampled_from(preds))
        pred["results"][v][i] = PRED_FAULTS[fault](pred["results"][v][i], data)
        broken = True
    elif fault in GT_FAULTS and anns:
        v, i = data.draw(st.sampled_from(anns))
        gt["database"][v]["annotations"][i] = GT_FAULTS[fault](gt["database"][v]["annotations"][i], data)
        broken = True
    gt_text, pred_text = json.dumps(gt), json.dumps(pred)
    if fault == "duplicate_gt_video":
        vid, entry = next(iter(gt["database"].items()))
        gt_text = '{"database": %s}' % _object_text(
            [(k, json.dumps(e)) for k, e in gt["database"].items()] + [(vid, json.dumps(entry))])
        broken = True
    elif fault == "duplicate_pred_video" and pred["results"]:
        vid, items = next(iter(pred["results"].items()))
        pred_text = '{"results": %s}' % _object_text(
            [(k, json.dumps(x)) for k, x in pred["results"].items()] + [(vid, "[]")])
        broken = True
    elif fault == "truncated_json":
        pred_text = pred_text[: len(pred_text) // 2]
        broken = True
    elif fault == "no_results":
        pred_text = json.dumps({"result": pred["results"]})
        broken = True
    elif fault == "no_database":
        gt_text = json.dumps(gt["database"])
        broken = True
    gt_path, pred_path = folder / "gt.json", folder / "pred.json"
    gt_path.write_text(gt_text)
    pred_path.write_text(pred_text)

    event("broken" if broken else "valid")
    try:
        result = evaluate_detection(gt_path, pred_path, TIOUS)
    except Tsl300Error as exc:
        assert isinstance(exc, DataError)
        assert str(gt_path) in str(exc) or str(pred_path) in str(exc), str(exc)
        assert broken, f"valid input refused: {exc}"
        code, err = _run_cli(gt_path, pred_path)
        assert code == 1 and err.startswith("tsl300 eval: error: ") and "Traceback" not in err
        return
    assert not broken, f"broken input ({fault}) accepted: {result['mAP']}"
    figures = np.array(result["mAP"] + result["precision_curve_mean"] + result["recall_curve_mean"] + result["F2"])
    assert np.isfinite(figures).all() and (figures >= 0).all() and (figures <= 1 + 1e-12).all()
    np.testing.assert_allclose(result["mAP"], reference_map(gt, pred["results"], TIOUS), atol=1e-12)


def test_perfect_predictions_score_one(folder):
    gt = {"database": {"a": {"subset": "test", "annotations": [
        {"segment": ["-1.5", "2.0"], "label": "p"}, {"segment": [4.0, 9.0], "label": "n"}]}}}
    pred = {"results": {"a": [{"segment": [-1.5, 2.0], "label": "p", "score": 0.9},
                              {"segment": [4, 9], "label": "n", "score": 0.8}]}}
    result = evaluate_detection(gt, pred, TIOUS)
    assert result["mAP"] == [1.0, 1.0, 1.0]

"""Time ``tsl300.eval.evaluate_detection`` against straightforward reference evaluators.

Three references, all written here from the ActivityNet algorithm (not copied), all with one
Python loop per prediction:

* ``activitynet``: the ActivityNet code's structure -- per prediction, a numpy tIoU against the
  ground truth of its video, an argsort, then Python loops over thresholds and sorted segments
  but without the pandas calls of the original.
* ``python``: the same loop in plain Python floats, dicts and sets (no numpy per prediction);
  the fastest reference on small videos, printed for a fair picture.
* ``pandas``: the loop with the original's pandas data handling (``groupby().get_group`` and
  ``reset_index`` per prediction, ``iterrows``, ``.loc`` per looked-up segment): what running
  the ActivityNet / TSL-300 evaluator costs in practice.

All run in this process on the largest golden case, from the same loaded dicts (parsing
included for everyone); the script asserts that all of them give the figures of expected.json
to 1e-9, then prints best-of-repeats CPU and wall times and the ratios. The CPU time of the
process is the figure to quote on a busy shared machine: time spent descheduled while other
jobs run inflates wall times, the longer calls (the references) the most.

    .venv/bin/python benchmarks/bench_eval.py [--case NAME] [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsl300.eval import evaluate_detection  # noqa: E402


def _tiou_python(ps: float, pe: float, gs: float, ge: float) -> float:
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    union = (ge - gs) + (pe - ps) - inter
    if union == 0:  # two zero-length segments
        return 1.0 if ps == gs else 0.0
    return inter / union


def _tiou_numpy(ps: float, pe: float, gs: np.ndarray, ge: np.ndarray) -> np.ndarray:
    inter = (np.minimum(pe, ge) - np.maximum(ps, gs)).clip(0)
    union = (ge - gs) + (pe - ps) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        tiou = inter / union
    return np.where(union == 0, (gs == ps).astype(float), tiou)


def _matcher(python_loop: bool):
    """Per-prediction matcher: returns the true-positive flags (T, N) of ranked predictions."""

    def match(ranked, gt_of_video, thresholds):
        tp = np.zeros((len(thresholds), len(ranked)))
        taken = [set() for _ in thresholds]
        arrays = {vid: np.asarray(segs) for vid, segs in gt_of_video.items()}
        for i, (_, _, vid, ps, pe) in enumerate(ranked):
            segs = gt_of_video.get(vid)
            if not segs:  # no ground truth of this class in this video: false positive
                continue
            if python_loop:
                scored = sorted(
                    ((_tiou_python(ps, pe, gs, ge), j) for j, (gs, ge) in enumerate(segs)),
                    key=lambda x: (-x[0], -x[1]),
                )
            else:
                arr = arrays[vid]
                tiou = _tiou_numpy(ps, pe, arr[:, 0], arr[:, 1])
                order = np.argsort(tiou, kind="stable")[::-1]  # ties: later segment first
                scored = [(tiou[j], j) for j in order]
            for t, thr in enumerate(thresholds):
                for tiou_j, j in scored:
                    if tiou_j < thr:
                        break
                    if (vid, j) in taken[t]:
                        continue
                    taken[t].add((vid, j))
                    tp[t, i] = 1
                    break
        return tp

    return match


def _pandas_matcher(ranked, gt_of_video, thresholds):
    """The original's data handling: pandas frames, ``get_group`` per prediction, ``iterrows``
    and ``.loc`` lookups of the locked segment (same decisions as the other matchers)."""
    frame = pd.DataFrame(
        [(vid, j, s, e) for vid, segs in gt_of_video.items() for j, (s, e) in enumerate(segs)],
        columns=["video-id", "pos", "t-start", "t-end"],
    )
    by_video = frame.groupby("video-id")
    preds = pd.DataFrame([(vid, ps, pe) for _, _, vid, ps, pe in ranked],
                         columns=["video-id", "t-start", "t-end"])
    tp = np.zeros((len(thresholds), len(preds)))
    locked = np.full((len(thresholds), len(frame)), -1)
    for i, row in preds.iterrows():
        try:
            this_gt = by_video.get_group(row["video-id"]).reset_index()
        except KeyError:
            continue
        segs = this_gt[["t-start", "t-end"]].values
        tiou = _tiou_numpy(row["t-start"], row["t-end"], segs[:, 0], segs[:, 1])
        order = np.argsort(tiou, kind="stable")[::-1]
        for t, thr in enumerate(thresholds):
            for j in order:
                if tiou[j] < thr:
                    break
                index = this_gt.loc[j]["index"]
                if locked[t, index] >= 0:
                    continue
                locked[t, index] = i
                tp[t, i] = 1
                break
    return tp


def _interpolated_ap(precision, recall) -> float:
    mprec = [0.0] + list(precision) + [0.0]
    mrec = [0.0] + list(recall) + [1.0]
    for k in range(len(mprec) - 2, -1, -1):
        mprec[k] = max(mprec[k], mprec[k + 1])
    return sum(
        (mrec[k] - mrec[k - 1]) * mprec[k] for k in range(1, len(mrec)) if mrec[k] != mrec[k - 1]
    )


def reference_evaluate(
    gt: dict, pred: dict, thresholds, subset: str = "test", style: str = "activitynet"
) -> dict:
    """Loop-per-prediction evaluator (benchmark baseline and test oracle); style is
    'activitynet' (numpy tIoU per prediction), 'python' (plain floats) or 'pandas' (the
    original's pandas data handling)."""
    match = _pandas_matcher if style == "pandas" else _matcher(python_loop=(style == "python"))
    classes: dict[str, int] = {}
    gt_by_class: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for vid, entry in gt["database"].items():
        if entry["subset"] != subset:
            continue
        for ann in entry["annotations"]:
            c = classes.setdefault(ann["label"], len(classes))
            seg = (float(ann["segment"][0]), float(ann["segment"][1]))
            gt_by_class.setdefault(c, {}).setdefault(vid, []).append(seg)

    preds_by_class: dict[int, list] = {c: [] for c in classes.values()}
    order = 0
    for vid, items in pred["results"].items():
        for item in items:
            s, e = float(item["segment"][0]), float(item["segment"][1])
            preds_by_class[classes[item["label"]]].append((float(item["score"]), order, vid, s, e))
            order += 1

    n_thr, n_cls = len(thresholds), len(classes)
    ap, pr, rc = np.zeros((n_thr, n_cls)), np.zeros((n_thr, n_cls)), np.zeros((n_thr, n_cls))
    for c in range(n_cls):
        # Descending score; equal scores: later in the file first.
        ranked = sorted(preds_by_class[c], key=lambda p: (-p[0], -p[1]))
        if not ranked:
            continue
        tp = match(ranked, gt_by_class[c], thresholds)
        n_pos = sum(len(v) for v in gt_by_class[c].values())
        tp_cum = np.cumsum(tp, axis=1)
        fp_cum = np.cumsum(1 - tp, axis=1)
        recall = tp_cum / n_pos
        precision = tp_cum / (tp_cum + fp_cum)
        for t in range(n_thr):
            ap[t, c] = _interpolated_ap(precision[t], recall[t])
        pr[:, c] = precision.mean(axis=1)
        rc[:, c] = recall.mean(axis=1)
    p, r = pr.mean(axis=1), rc.mean(axis=1)
    f2 = [5 * a * b / (4 * a + b) if 4 * a + b > 0 else 0.0 for a, b in zip(p, r)]
    mean_ap = ap.mean(axis=1)
    return {
        "tiou_thresholds": list(thresholds),
        "class_index": classes,
        "mAP": mean_ap.tolist(),
        "average_mAP": float(mean_ap.mean()),
        "AP_per_class_per_tiou": ap.tolist(),
        "precision_curve_mean": p.tolist(),
        "recall_curve_mean": r.tolist(),
        "F2": f2,
    }


def _largest_case(root: Path) -> str:
    sizes = {
        d.name: (d / "pred.json").stat().st_size + (d / "gt.json").stat().st_size
        for d in root.iterdir()
        if (d / "expected.json").exists()
    }
    return max(sizes, key=sizes.get)


def _cpu_and_wall(fn) -> tuple[float, float]:
    """CPU seconds of this process (robust to other processes on a shared machine: time spent
    descheduled is not counted) and wall seconds of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def _tiled(gt: dict, pred: dict, copies: int) -> tuple[dict, dict]:
    """The case repeated ``copies`` times under renamed videos (to see how times scale)."""
    database = {f"{vid}#{k}": entry for k in range(copies) for vid, entry in gt["database"].items()}
    results = {f"{vid}#{k}": items for k in range(copies) for vid, items in pred["results"].items()}
    return {"database": database}, {"results": results}


def _max_difference(got: dict, want: dict) -> float:
    assert got["class_index"] == want["class_index"], "class_index differs"
    return max(
        float(np.max(np.abs(np.asarray(got[key]) - np.asarray(value))))
        for key, value in want.items()
        if key != "class_index"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("TSL300_SHARED", REPO.parent / "shared"))
    parser.add_argument("--golden", type=Path, default=shared / "golden" / "eval")
    parser.add_argument("--case", default=None, help="golden case (default: the largest)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--tile", type=int, default=1,
                        help="also time the case repeated this many times (default 1: off)")
    args = parser.parse_args(argv)

    case = args.case or _largest_case(args.golden)
    folder = args.golden / case
    gt = json.loads((folder / "gt.json").read_text())
    pred = json.loads((folder / "pred.json").read_text())
    expected = json.loads((folder / "expected.json").read_text())
    thr = expected["tiou_thresholds"]
    ours_name = "tsl300.eval (vectorised)"

    def runners(g, p):
        return {
            ours_name: lambda: evaluate_detection(g, p, thr),
            "reference, activitynet style": lambda: reference_evaluate(g, p, thr),
            "reference, plain python": lambda: reference_evaluate(g, p, thr, style="python"),
            "reference, with pandas": lambda: reference_evaluate(g, p, thr, style="pandas"),
        }

    for name, run in runners(gt, pred).items():
        err = _max_difference(run(), expected)
        assert err <= 1e-9, f"{name} differs from expected.json by {err}"
    cases = [(case, gt, pred)]
    if args.tile > 1:
        cases.append((f"{case} x{args.tile}", *_tiled(gt, pred, args.tile)))

    for label, g, p in cases:
        run_all = runners(g, p)
        ours = run_all[ours_name]()
        for name, run in run_all.items():
            err = _max_difference(run(), {key: ours[key] for key in expected})
            assert err <= 1e-9, f"{name} differs from {ours_name} by {err}"
        # Interleave the repeats so that load from other processes hits every runner alike;
        # the pandas reference (about a second a run) gets fewer.
        few = max(3, args.repeats // 5)
        cpu = {name: float("inf") for name in run_all}
        wall = dict(cpu)
        for i in range(args.repeats):
            for name, run in run_all.items():
                if "pandas" in name and i >= few:
                    continue
                c, w = _cpu_and_wall(run)
                cpu[name], wall[name] = min(cpu[name], c), min(wall[name], w)

        n_pred = sum(len(v) for v in p["results"].values())
        n_gt = sum(len(v["annotations"]) for v in g["database"].values())
        print(f"case {label}: {n_gt} ground-truth segments, {n_pred} predictions, "
              f"{len(thr)} thresholds; all evaluators agree to 1e-9 (and with expected.json)")
        print(f"  {'':<30} {'CPU ms':>10} {'ratio':>8} {'wall ms':>10} {'ratio':>8}")
        for name in run_all:
            ratios = [t[name] / t[ours_name] for t in (cpu, wall)]
            print(f"  {name:<30} {1000 * cpu[name]:10.2f} {ratios[0]:7.1f}x "
                  f"{1000 * wall[name]:10.2f} {ratios[1]:7.1f}x")
        print(f"  (ratio = time / tsl300.eval time; best of {args.repeats} interleaved repeats, "
              f"pandas {few}; from loaded dicts, parsing included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

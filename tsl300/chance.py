"""Chance level for detection mAP: what random segments score on the same ground truth.

A model's mAP means little without it: with few, long segments per video, even random guesses
overlap them at the low tIoU thresholds TSL-300 uses (0.1-0.3). The baseline draws, per video,
as many segments as the model predicted (or ``per_video``), with uniformly random start, a
length drawn from the ground-truth segment lengths of the whole set, a random class and a
random score; it averages the mAP over ``draws`` seeded draws.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .classes import CLASS_CODES
from .data.types import Segment


def random_predictions(durations: Mapping[str, float], counts: Mapping[str, int],
                       lengths: Sequence[float], classes: Sequence[str], rng: np.random.Generator
                       ) -> dict[str, list[Segment]]:
    """Random segments: ``counts[vid]`` per video, lengths resampled from ``lengths``."""
    out = {}
    pool = np.asarray(lengths, dtype=np.float64)
    for vid, duration in durations.items():
        n = int(counts.get(vid, 0))
        length = np.minimum(rng.choice(pool, size=n), duration)
        start = rng.uniform(0.0, 1.0, size=n) * (duration - length)
        label = rng.integers(0, len(classes), size=n)
        score = rng.uniform(size=n)
        out[vid] = [Segment(float(s), float(s + L), classes[int(c)], float(p))
                    for s, L, c, p in zip(start, length, label, score)]
    return out


def chance_map(ground_truth: Mapping[str, Sequence[Segment]], durations: Mapping[str, float],
               counts: Mapping[str, int] | int = 10, draws: int = 20, seed: int = 0,
               classes: Sequence[str] = CLASS_CODES, tiou_thresholds=None) -> dict[str, float]:
    """Mean and std over ``draws`` of the average mAP of random predictions."""
    from .eval import evaluate_segments

    if isinstance(counts, int):
        counts = {vid: counts for vid in durations}
    lengths = [s.end - s.start for segs in ground_truth.values() for s in segs]
    if not lengths:
        raise ValueError("the ground truth holds no segment")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        pred = random_predictions(durations, counts, lengths, classes, rng)
        values.append(float(evaluate_segments(dict(ground_truth), pred, tiou_thresholds)["average_mAP"]))
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "draws": draws}


def main(argv: list[str] | None = None) -> int:
    """``python -m tsl300.chance --data DIR --pred predictions_test.json``: model vs chance."""
    import argparse
    import json
    from pathlib import Path

    from .data.annotations import parse_ground_truth
    from .data.io import read_json_mapping, read_split
    from .errors import DataError
    from .eval import evaluate_detection
    from .eval.io import load_json

    parser = argparse.ArgumentParser(prog="python -m tsl300.chance", description=main.__doc__)
    parser.add_argument("--data", required=True, help="dataset folder (TSL-300 layout)")
    parser.add_argument("--pred", required=True, help="ActivityNet results JSON of the model")
    parser.add_argument("--split", default="test")
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args(argv)
    root = Path(args.data)
    vids = read_split(root / f"split_{args.split}.txt")
    gt_all = parse_ground_truth(root / "gt.json", CLASS_CODES)
    gt = {v: gt_all[v] for v in vids}
    durations = read_json_mapping(root / "len_duration_dict.json", "durations")
    pred = load_json(args.pred, "predictions")[0].get("results")
    if not isinstance(pred, Mapping):
        raise DataError(f"{args.pred}: expected an ActivityNet results JSON with a 'results' object")
    counts = {v: len(pred.get(v, [])) for v in vids}
    gt_json = {"database": {v: {"subset": "test", "annotations": [
        {"segment": [s.start, s.end], "label": s.label} for s in segs]} for v, segs in gt.items()}}
    model = float(evaluate_detection(gt_json, {"results": {v: pred.get(v, []) for v in vids}})["average_mAP"])
    chance = chance_map(gt, {v: durations[v] for v in vids}, counts, args.draws)
    print(json.dumps({"videos": len(vids), "model_average_mAP": model, "chance_average_mAP": chance["mean"],
                      "chance_std": chance["std"], "draws": chance["draws"],
                      "predictions_per_video": float(np.mean(list(counts.values())))}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

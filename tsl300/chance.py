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
               classes: Sequence[str] = ("n", "p"), tiou_thresholds=None) -> dict[str, float]:
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

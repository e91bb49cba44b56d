"""Text as a modality on real data: MELD dialogues as untrimmed streams (tsl300.data.meld).

Three rows on MELD test, average mAP (tIoU 0.1:0.05:0.3), Recall and F2, in percent:

- chance: random segments (tsl300.chance), as many per stream as it has ground-truth segments,
  and 10 per stream (mean over 20 draws);
- VADER rule, no training: a snippet is positive when its VADER compound is above ``+t``,
  negative below ``-t`` (snippets without words: neither); runs of such snippets are the
  segments, scored by their mean |compound|. ``t`` is chosen on MELD dev from a grid;
- the flagship on the text features (recipes/text/meld_text.yaml), one run per seed; the
  checkpoint is the one with the best average mAP on MELD dev (evaluated every
  ``schedule.eval_every`` steps), then scored once on test.

MELD test is never used to choose anything. ::

    python benchmarks/bench_text_meld.py --meld ../shared/datasets/meld --out runs/bench_text_meld \
        --seeds 1,2,3 --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "text" / "meld_text.yaml"
COVERAGE, COMPOUND = 0, 4
"""Columns of the ``text`` features: coverage, then VADER neg, neu, pos, compound."""
THRESHOLDS = np.round(np.arange(0.0, 0.85, 0.05), 2)


def runs_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) snippet indices (end exclusive) of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def vader_rule(videos, threshold: float) -> dict:
    """Segments of the VADER rule for each video (see the module doc)."""
    from tsl300 import timegrid
    from tsl300.data.types import Segment

    out = {}
    for v in videos:
        x = v.features["text"]
        compound = np.where(x[:, COVERAGE] > 0, x[:, COMPOUND], 0.0)
        segments = []
        for label, signed in (("p", compound), ("n", -compound)):
            starts, ends = runs_of(signed > threshold)
            csum = np.concatenate([[0.0], np.cumsum(signed)])
            scores = (csum[ends] - csum[starts]) / (ends - starts)
            segments += [Segment(float(a), float(b), label, float(s)) for a, b, s in
                         zip(timegrid.snippet_start(starts, v.fps), timegrid.snippet_end(ends - 1, v.fps), scores)]
        out[v.vid] = segments
    return out


def headline(metrics) -> dict:
    from tsl300.engine.runs import headline as _headline

    return _headline(metrics)


def chance_rows(test_videos) -> dict:
    from tsl300.chance import chance_map

    gt = {v.vid: v.segments for v in test_videos}
    durations = {v.vid: float(v.duration) for v in test_videos}
    same = chance_map(gt, durations, {v.vid: len(v.segments) for v in test_videos}, draws=20, seed=0)
    ten = chance_map(gt, durations, 10, draws=20, seed=0)
    return {"chance (GT count per stream)": 100 * same["mean"], "chance (10 per stream)": 100 * ten["mean"]}


def rule_rows(dev_videos, test_videos) -> tuple[float, dict, dict]:
    """Threshold chosen on dev; its dev and test headline figures."""
    from tsl300.eval import evaluate_segments

    dev_scores = {float(t): float(evaluate_segments(dev_videos, vader_rule(dev_videos, t))["average_mAP"])
                  for t in THRESHOLDS}
    best = max(dev_scores, key=dev_scores.get)
    test = headline(evaluate_segments(test_videos, vader_rule(test_videos, best)))
    return best, dev_scores, test


def train_seed(recipe, seed: int, train_videos, dev_videos, spec, run_dir: Path):
    """One flagship run validated on MELD dev: the trainer's validation videos are the dev split
    (``val_fraction`` 0, so no training video is held out)."""
    import dataclasses

    from tsl300.engine import runs
    from tsl300.engine.trainer import Trainer

    seeded = runs.with_seed(recipe, seed)
    seeded = dataclasses.replace(seeded, data=dataclasses.replace(seeded.data, val_fraction=0.0))
    trainer = Trainer(seeded, train_videos, spec, run_dir, progress=False, tensorboard=False)
    trainer.val_videos = trainer.select_videos = list(dev_videos)
    return trainer.fit()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meld", default=str(ROOT.parent / "shared" / "datasets" / "meld"))
    parser.add_argument("--out", default="runs/bench_text_meld")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="recipe override KEY=VALUE")
    args = parser.parse_args(argv)

    import torch

    from tsl300.data.meld import build_meld_dataset
    from tsl300.engine import runs
    from tsl300.recipes import load_recipe

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = out / "data"
    if not (data / "split_test.txt").is_file():
        build_meld_dataset(args.meld, data)
    recipe = load_recipe(RECIPE, overrides=args.set)
    train_set = runs.open_split(data, "train", recipe)
    spec = runs.spec_from_dataset(train_set, recipe.data.modalities)
    train_videos = list(train_set)
    dev_videos = list(runs.open_split(data, "dev", recipe, with_points=False))
    test_videos = list(runs.open_split(data, "test", recipe, with_points=False))

    report = {"streams": {"train": len(train_videos), "dev": len(dev_videos), "test": len(test_videos)},
              "segments_test": sum(len(v.segments) for v in test_videos)}
    report["chance"] = chance_rows(test_videos)
    threshold, dev_scores, rule_test = rule_rows(dev_videos, test_videos)
    report["vader_rule"] = {"threshold": threshold, "dev_average_mAP_by_threshold": dev_scores,
                            "test": rule_test}
    print(f"chance: {report['chance']}", flush=True)
    print(f"VADER rule (t={threshold} on dev): {rule_test['avg_mAP']:.2f} avg mAP on test", flush=True)

    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        result = train_seed(recipe, seed, train_videos, dev_videos, spec, out / f"seed_{seed}")
        tested = runs.test_model(result.run_dir, data, split="test", videos=test_videos)
        row = headline(tested["metrics"])
        rows.append({"seed": seed, "selected_step": result.selected_step,
                     "dev_average_mAP": 100 * float(result.selection_metric),
                     "seconds": time.perf_counter() - t0, **row})
        print(f"seed {seed}: step {result.selected_step} (dev {rows[-1]['dev_average_mAP']:.2f}) -> "
              f"test {row['avg_mAP']:.2f} avg mAP", flush=True)
    report["flagship"] = rows
    report["flagship_summary"] = {k: [float(np.mean([r[k] for r in rows])),
                                      float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1 else 0.0]
                                  for k in ("avg_mAP", "Recall", "F2", "dev_average_mAP")}
    report["command"] = " ".join(["python", "benchmarks/bench_text_meld.py"] + (argv or sys.argv[1:]))
    (out / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    s = report["flagship_summary"]
    print(f"flagship on text, {len(rows)} seeds: {s['avg_mAP'][0]:.2f} +- {s['avg_mAP'][1]:.2f} avg mAP, "
          f"Recall {s['Recall'][0]:.2f} +- {s['Recall'][1]:.2f}, F2 {s['F2'][0]:.2f} +- {s['F2'][1]:.2f}")
    print(f"VADER rule: {rule_test['avg_mAP']:.2f} avg mAP, Recall {rule_test['Recall']:.2f}, F2 {rule_test['F2']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Leave-speakers-out cross-validation of the default recipe on cached speaker streams.

Speaker groups of ASED and EmoDB (``tsl300.data.more_speech.speaker_group``) are dealt into K
folds by a fixed permutation (seed 0); fold k trains on the other folds' streams and is tested
on its own speakers' streams (never seen) and on every URDU stream (out of domain, never
trained on). Each (config, fold, seed) writes one JSON under ``OUT/results`` and is skipped
when present, so an interrupted run resumes. Per test set: average mAP in % (tIoU 0.1:0.05:0.3),
AP per class, chance (random segments, same count per video, 20 draws), with and without the
speech gate.

    python recipes/default/cv.py --cache runs/default/cache --out runs/default/cv \
        --folds 10 --seeds 1,2,3 --config prosody_egemaps
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "prosody_egemaps": ["audio_prosody", "egemaps_lld"],
    "prosody": ["audio_prosody"],
    "egemaps": ["egemaps_lld"],
}
"""Compared feature sets (the recipe's other settings are shared)."""


def folds_of(groups: list[str], k: int, seed: int = 0) -> dict[str, int]:
    """Group -> fold index, a fixed permutation dealt round-robin (sizes differ by at most 1)."""
    order = np.random.default_rng(seed).permutation(sorted(groups))
    return {str(g): i % k for i, g in enumerate(order)}


def evaluate(videos, predictions: dict, draws: int = 20) -> dict:
    """Average mAP, AP per class and chance of ``predictions`` on ``videos``."""
    from tsl300.chance import chance_map
    from tsl300.eval import evaluate_segments

    truth = {v.vid: v.segments for v in videos}
    result = evaluate_segments(truth, {v.vid: predictions.get(v.vid, []) for v in videos})
    counts = {v.vid: len(predictions.get(v.vid, [])) for v in videos}
    chance = chance_map(truth, {v.vid: v.duration for v in videos}, counts, draws=draws)
    per_class = {label: 100 * float(result["average_AP_per_class"][i]) for label, i in result["class_index"].items()}
    return {"average_mAP": 100 * float(result["average_mAP"]), "AP_per_class": per_class,
            "chance": 100 * chance["mean"], "chance_std": 100 * chance["std"], "videos": len(videos),
            "predictions_per_video": float(np.mean(list(counts.values())))}


def predict(localizer, videos, gate: bool, all_proposals: bool = True) -> dict:
    from tsl300.data.types import Segment

    saved = dict(localizer.extras)
    if not gate:
        localizer.extras.pop("speech_gate", None)
    try:
        out = {}
        for v in videos:
            r = localizer.localize_features(v, all_proposals=all_proposals)
            out[v.vid] = [Segment(s.start, s.end, s.code, s.score) for s in r.segments]
        return out
    finally:
        localizer.extras = saved


def run_fold(cache: Path, out: Path, config: str, fold: int, k: int, seeds: list[int], steps: int | None) -> None:
    import tsl300
    from tsl300.data.speaker_streams import load_cache, write_fold

    todo = [s for s in seeds if not (out / "results" / f"{config}_k{k}_f{fold}_s{s}.json").is_file()]
    if not todo:
        return
    modalities = CONFIGS[config]
    videos, specs = load_cache(cache, modalities + ["speech_activity"])
    train_groups = sorted({v.group for v in videos if not v.group.startswith("urdu")})
    fold_of = folds_of(train_groups, k)
    train = [v for v in videos if v.group in fold_of and fold_of[v.group] != fold]
    test = [v for v in videos if v.group in fold_of and fold_of[v.group] == fold]
    urdu = [v for v in videos if v.group.startswith("urdu")]
    data = out / "data" / f"{config}_k{k}_f{fold}"
    write_fold(data, _only(train, modalities), _only(test + urdu, modalities),
               {m: specs[m] for m in modalities}, seed=fold)
    run = out / "runs" / f"{config}_k{k}_f{fold}"
    overrides = [f"data.modalities=[{','.join(modalities)}]"] + ([f"schedule.steps={steps}"] if steps else [])
    untrained = [s for s in todo if not (run / f"seed_{s}" / "model.safetensors").is_file()]
    started = time.time()
    if untrained:  # a model already trained (results deleted to re-evaluate) is reused
        tsl300.train(HERE / "default.yaml", data, run, seeds=untrained, overrides=overrides, test=False,
                     device="cpu")
    train_s = (time.time() - started) / max(len(untrained), 1)
    gate_spec = specs["speech_activity"]
    for seed in todo:
        loc = tsl300.load_model(run / f"seed_{seed}" if (run / f"seed_{seed}").is_dir() else run, device="cpu")
        loc.extras = {"speech_gate": gate_spec}
        res = {"config": config, "k": k, "fold": fold, "seed": seed, "train_s": train_s,
               "train_videos": len(train), "test_groups": sorted({v.group for v in test}),
               "train_groups": sorted({v.group for v in train})}
        for name, vids in (("heldout", test), ("urdu", urdu)):
            for gate in (False, True):
                res[f"{name}_{'gated' if gate else 'ungated'}"] = evaluate(vids, predict(loc, vids, gate))
        path = out / "results" / f"{config}_k{k}_f{fold}_s{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1))
        print(f"{config} fold {fold}/{k} seed {seed}: held-out {res['heldout_gated']['average_mAP']:.1f} "
              f"(chance {res['heldout_gated']['chance']:.1f}), URDU {res['urdu_gated']['average_mAP']:.1f} "
              f"(chance {res['urdu_gated']['chance']:.1f}), {train_s:.0f} s/seed", flush=True)
    shutil.rmtree(data, ignore_errors=True)


def _only(videos, modalities):
    """Copies of ``videos`` holding only ``modalities`` (the layout writes every feature)."""
    from tsl300.data.types import Video

    return [Video(vid=v.vid, fps=v.fps, features={m: v.features[m] for m in modalities},
                  segments=v.segments, duration=v.duration) for v in videos]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("runs/default/cache"))
    parser.add_argument("--out", type=Path, default=Path("runs/default/cv"))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--only-folds", default="", help="comma list of fold indices (default: all)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--config", default="prosody_egemaps", choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=None, help="override schedule.steps")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    folds = [int(f) for f in args.only_folds.split(",")] if args.only_folds else range(args.folds)
    for fold in folds:
        run_fold(args.cache, args.out, args.config, fold, args.folds, seeds, args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

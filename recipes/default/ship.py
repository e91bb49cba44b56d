"""Train, calibrate and ship the default model (``tsl300/resources/models/default``).

1. Speaker groups of ASED + EmoDB are split once (``cv.folds_of(groups, 5)``, fold 0 =
   **validation speakers**, the rest = training speakers); no URDU, no test fold is used.
2. The default recipe trains on the training speakers' streams (seed 1, final step).
3. On the validation speakers' streams, with the speech gate on, the segments ``localize``
   returns (non-overlapping per class) are labelled true/false detections (tIoU >= 0.3) and a
   Platt map is fitted (scores then read as probabilities); the default threshold is the
   calibrated score with the best F1 there.
4. Sidecar ``localize`` block: speech gate spec, calibration, threshold, validation speakers.

    python recipes/default/ship.py --cache runs/default/cache --out runs/default/ship [--install]
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from cv import HERE, _only, folds_of

MODALITIES = ["audio_prosody", "egemaps_lld"]
VALIDATION_FOLDS = 5
MODELS = HERE.parents[1] / "tsl300" / "resources" / "models"


def reliability(probabilities, labels, bins=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)) -> list[dict]:
    """Mean calibrated score vs. fraction of true detections per score bin."""
    p, y = np.asarray(probabilities), np.asarray(labels)
    out = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (p >= lo) & (p < hi)
        if m.any():
            out.append({"bin": [lo, min(hi, 1.0)], "n": int(m.sum()), "mean_score": float(p[m].mean()),
                        "true_fraction": float(y[m].mean())})
    return out


def main(argv=None) -> int:
    import torch

    import tsl300
    from tsl300.calibration import Platt, best_threshold, fit_platt, match_labels
    from tsl300.data.speaker_streams import load_cache, write_fold
    from tsl300.data.types import Segment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("runs/default/cache"))
    parser.add_argument("--out", type=Path, default=Path("runs/default/ship"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="recipe override KEY=VALUE (checks only)")
    parser.add_argument("--install", action="store_true", help="copy into tsl300/resources/models/default")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    videos, specs = load_cache(args.cache, MODALITIES + ["speech_activity"])
    groups = sorted({v.group for v in videos if not v.group.startswith("urdu")})
    val_groups = sorted(g for g, f in folds_of(groups, VALIDATION_FOLDS).items() if f == 0)
    train = [v for v in videos if v.group in groups and v.group not in val_groups]
    val = [v for v in videos if v.group in val_groups]
    data = args.out / "data"
    write_fold(data, _only(train, MODALITIES), _only(val, MODALITIES), {m: specs[m] for m in MODALITIES})
    run = args.out / "run"
    if not (run / "model.safetensors").is_file():
        tsl300.train(HERE / "default.yaml", data, run, seeds=[args.seed], overrides=args.set, test=False,
                     device="cpu")
    if (run / f"seed_{args.seed}").is_dir():
        run = run / f"seed_{args.seed}"

    loc = tsl300.load_model(run, device="cpu")
    loc.extras = {"speech_gate": specs["speech_activity"]}
    scores, labels, n_truth = [], [], 0
    for v in val:
        segs = [Segment(s.start, s.end, s.code, s.score) for s in loc.localize_features(v).segments]
        scores += [s.score for s in segs]
        labels += list(match_labels(segs, v.segments))
        n_truth += len(v.segments)
    platt = fit_platt(scores, labels)
    probabilities = platt(np.array(scores))
    threshold = best_threshold(probabilities, labels, n_truth)
    kept = probabilities >= threshold
    summary = {
        "validation_groups": val_groups, "train_groups": sorted({v.group for v in train}),
        "validation_segments": len(scores), "validation_truth": n_truth,
        "true_fraction": float(np.mean(labels)), "calibration": platt.to_dict(), "threshold": threshold,
        "precision_at_threshold": float(np.mean(np.asarray(labels)[kept])) if kept.any() else 0.0,
        "recall_at_threshold": float(np.asarray(labels)[kept].sum() / max(n_truth, 1)),
        "reliability": reliability(probabilities, labels),
    }
    (args.out / "calibration.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: summary[k] for k in ("calibration", "threshold", "precision_at_threshold",
                                              "recall_at_threshold", "reliability")}, indent=1))

    meta_path = run / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["recipe_source"] = "recipes/default/default.yaml"
    meta["localize"] = {"speech_gate": specs["speech_activity"], "calibration": platt.to_dict(),
                        "threshold": round(threshold, 4), "validation_groups": val_groups,
                        "trained_on": "more_speech ASED + emodb_2s speaker groups (research use)"}
    meta_path.write_text(json.dumps(meta, indent=2))
    Platt.from_dict(meta["localize"]["calibration"])  # round trip
    if args.install:
        target = MODELS / "default"
        shipok = MODELS / "shipok"
        if not shipok.exists():  # keep the previous (ship-ok, CREMA-D only) default as a named model
            shutil.copytree(target, shipok)
        shutil.copy(run / "model.safetensors", target / "model.safetensors")
        shutil.copy(meta_path, target / "model.json")
        print(f"installed into {target} (previous default kept as {shipok})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

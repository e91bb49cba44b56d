"""Tables of ``cv.py`` results: mean +- std over seeds of the fold-averaged figures.

For each config, test set (held-out speakers, URDU) and gate setting: average mAP, AP per class
(negative, positive), chance; per fold: mean over seeds. Std is the sample std over seeds (of
each seed's mean over folds); ``fold std`` is the spread over folds (of the seed means).

    python recipes/default/summarize.py runs/default/cv/results [--markdown]
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def load(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def summary(results: list[dict]) -> dict:
    out = {}
    by = defaultdict(list)
    for r in results:
        by[(r["config"], r["k"])].append(r)
    for (config, k), rows in sorted(by.items()):
        seeds = sorted({r["seed"] for r in rows})
        folds = sorted({r["fold"] for r in rows})
        entry = {"folds": folds, "k": k, "seeds": seeds, "sets": {}}
        for key in ("heldout_gated", "heldout_ungated", "urdu_gated", "urdu_ungated"):
            def per_seed(metric):
                return [np.mean([metric(r[key]) for r in rows if r["seed"] == s]) for s in seeds]

            m = per_seed(lambda e: e["average_mAP"])
            neg = per_seed(lambda e: e["AP_per_class"].get("n", np.nan))
            pos = per_seed(lambda e: e["AP_per_class"].get("p", np.nan))
            chance = per_seed(lambda e: e["chance"])
            fold_means = [np.mean([r[key]["average_mAP"] for r in rows if r["fold"] == f]) for f in folds]
            fold_chance = [np.mean([r[key]["chance"] for r in rows if r["fold"] == f]) for f in folds]
            std = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
            entry["sets"][key] = {
                "mAP": [float(np.mean(m)), std(m)], "AP_n": [float(np.mean(neg)), std(neg)],
                "AP_p": [float(np.mean(pos)), std(pos)], "chance": [float(np.mean(chance)), std(chance)],
                "per_seed": [float(x) for x in m], "fold_std": std(fold_means),
                "per_fold": [[f, float(a), float(c)] for f, a, c in zip(folds, fold_means, fold_chance)],
                "folds_above_chance": int(sum(a > c for a, c in zip(fold_means, fold_chance))),
            }
        entry["train_s"] = float(np.mean([r["train_s"] for r in rows]))
        out[f"{config} (k={k})"] = entry
    return out


def markdown(s: dict) -> str:
    lines = ["| config | test set | gate | avg mAP | AP neg | AP pos | chance | per seed | folds above chance |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, e in s.items():
        for key, v in e["sets"].items():
            where, gate = key.split("_")
            f = lambda p: f"{p[0]:.1f} ± {p[1]:.1f}"  # noqa: E731
            lines.append(f"| {name}, folds {len(e['folds'])}, seeds {','.join(map(str, e['seeds']))} | "
                         f"{'held-out speakers' if where == 'heldout' else 'URDU'} | {gate} | {f(v['mAP'])} | "
                         f"{f(v['AP_n'])} | {f(v['AP_p'])} | {f(v['chance'])} | "
                         f"{' / '.join(f'{x:.1f}' for x in v['per_seed'])} | "
                         f"{v['folds_above_chance']}/{len(e['folds'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    s = summary(load(args.results))
    print(markdown(s) if args.markdown else json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

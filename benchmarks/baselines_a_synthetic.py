"""Train and test the CO2-Net, SF-Net and LACP recipes over several seeds; print one table.

Same as ``tsl300 train RECIPE --data DIR --seeds 1,2,3`` for each recipe (the shared trainer,
final-step selection, the shared evaluator), with two additions for a machine with a GPU and
many cores: ``--device cuda`` trains there (testing stays on the CPU), and ``--jobs N`` runs the
(recipe, seed) pairs in N processes. Each run writes ``OUT/<recipe>/seed_<s>/metrics.json``;
the table (mean +- sample std over seeds, percent) goes to stdout and ``OUT/summary.md``.

    .venv/bin/python benchmarks/baselines_a_synthetic.py --data DIR --out OUT \
        [--recipes recipes/co2net/co2net_cpu.yaml,...] [--seeds 1,2,3] [--device cuda] [--jobs 9]
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

DEFAULT_RECIPES = ("recipes/co2net/co2net_cpu.yaml", "recipes/sfnet/sfnet_cpu.yaml",
                   "recipes/lacp/lacp_cpu.yaml")


def run_one(recipe_path: str, seed: int, data: str, out: str, device: str, overrides: list[str]) -> dict:
    import torch

    from tsl300.engine import runs
    from tsl300.engine.inference import evaluate_predictions, predict
    from tsl300.engine.trainer import Trainer
    from tsl300.recipes import load_recipe

    torch.set_num_threads(1)
    stem = Path(recipe_path).stem
    mine = []
    for item in overrides:  # "KEY=VALUE" for every recipe, "PREFIX:KEY=VALUE" for recipes named PREFIX*
        key = item.split("=", 1)[0]
        if ":" in key:
            prefix, item = item.split(":", 1)
            if not stem.startswith(prefix):
                continue
        mine.append(item)
    recipe = runs.with_seed(load_recipe(recipe_path, mine), seed)
    train_set = runs.open_split(data, "train", recipe)
    spec = runs.spec_from_dataset(train_set, recipe.data.modalities)
    test_videos = list(runs.open_split(data, "test", recipe, with_points=False))
    run_dir = Path(out) / recipe.name / f"seed_{seed}"
    trainer = Trainer(recipe, list(train_set), spec, run_dir, progress=False, tensorboard=False, device=device)
    result = trainer.fit()
    method = trainer.method.cpu()
    began = time.perf_counter()
    predictions = predict(method, test_videos, recipe.data.modalities, spec.classes, recipe.postprocess,
                          recipe.batch_size)
    metrics = evaluate_predictions(test_videos, predictions)
    row = {"recipe": recipe.name, "method": recipe.method, "supervision": method.supervision, "seed": seed,
           "steps": result.steps, "train_seconds": result.seconds,
           "test_seconds": time.perf_counter() - began, **runs.headline(metrics)}
    (run_dir / "metrics.json").write_text(json.dumps(row, indent=2), encoding="utf-8")
    return row


def table(rows: list[dict]) -> str:
    import numpy as np

    keys = [k for k in rows[0] if k.startswith("mAP@")] + ["avg_mAP", "Recall", "F2", "train_seconds"]
    lines = ["| recipe | supervision | seeds | " + " | ".join(keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for name in dict.fromkeys(r["recipe"] for r in rows):
        mine = [r for r in rows if r["recipe"] == name]
        cells = []
        for key in keys:
            values = np.array([r[key] for r in mine], dtype=float)
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{values.mean():.2f} ± {std:.2f}" if key != "train_seconds" else f"{values.mean():.0f}")
        lines.append(f"| {name} | {mine[0]['supervision']} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--recipes", default=",".join(DEFAULT_RECIPES))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="[RECIPE:]KEY=VALUE",
                        help="recipe override for all recipes, or with RECIPE: for those whose file starts so")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(r, s) for r in args.recipes.split(",") for s in seeds]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_one, r, s, args.data, args.out, args.device, args.overrides): (r, s)
                   for r, s in jobs}
        for future in as_completed(futures):
            try:
                row = future.result()
            except Exception as exc:  # report and keep the other runs
                print(f"FAILED {futures[future]}: {exc!r}", flush=True)
                continue
            print(json.dumps(row), flush=True)
            rows.append(row)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "rows.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if not rows:
        return 1
    order = {r: i for i, r in enumerate(dict.fromkeys(Path(p).stem.replace("_", "-") for p in args.recipes.split(",")))}
    rows.sort(key=lambda r: (order.get(r["recipe"], 99), r["seed"]))
    text = table(rows) + "\n\n(percent on the test split; final-step model; mean ± sample std over seeds)\n"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

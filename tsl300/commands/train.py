"""``tsl300 train RECIPE --data DIR --out RUN``: train a recipe (one or several seeds), then
test each run on the test split and print the metrics (mean +- std over seeds)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import DataError, Tsl300Error
from ..engine.devices import add_device_arguments
from ..recipes import SELECT_CHOICES, load_recipe

NAME = "train"
HELP = "train a recipe on a dataset (several seeds: mean +- std table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML, e.g. recipes/tsl300/flagship.yaml")
    parser.add_argument("--data", required=True, help="dataset folder (TSL-300 or generic layout)")
    parser.add_argument("--out", required=True, help="run folder (one sub-folder per seed with --seeds)")
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3 (default: the recipe's seed)")
    parser.add_argument("--select", choices=SELECT_CHOICES,
                        help="model selection: val (held-out training videos), last, or test "
                             "(official protocol, optimistic); default: the recipe's")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set schedule.steps=200 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/last")
    parser.add_argument("--no-test", action="store_true", help="skip testing on the test split")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--time-limit", type=float, metavar="MINUTES",
                        help="stop each seed after this many minutes (checkpoint saved, last weights used; "
                             "the run is marked as stopped early)")
    add_device_arguments(parser)


def _seeds(text: str | None, default: int) -> list[int]:
    if not text:
        return [default]
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise Tsl300Error(f"--seeds {text!r}: expected comma-separated integers, e.g. 1,2,3") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise Tsl300Error(f"--seeds {text!r}: expected distinct integers")
    return seeds


def run(args: argparse.Namespace) -> int:
    from ..engine import runs
    from ..engine.devices import configure
    from ..eval import format_table

    device = configure(args.device, args.threads)
    overrides = list(args.overrides)
    if args.select:
        overrides.append(f"select={args.select}")
    recipe = load_recipe(args.recipe, overrides)
    seeds = _seeds(args.seeds, recipe.seed)
    out = Path(args.out)
    # one dataset for every seed: the point-annotator draw (data.point_source: random) uses the
    # recipe's seed, so all seeds see the same point labels and differ in init and batch order
    train_set = runs.open_split(args.data, "train", recipe)
    spec = runs.spec_from_dataset(train_set, recipe.data.modalities)
    train_videos = list(train_set)
    test_videos = None
    if not args.no_test or recipe.select == "test":
        try:
            test_videos = list(runs.open_split(args.data, "test", recipe, with_points=False))
        except DataError as exc:
            if recipe.select == "test":
                raise
            print(f"no test split to evaluate on ({exc}); training only")
    no_test = args.no_test or not test_videos or not any(v.segments for v in test_videos)
    rows, seconds, steps = [], [], []
    for seed in seeds:
        seeded = runs.with_seed(recipe, seed)
        run_dir = out / f"seed_{seed}" if len(seeds) > 1 else out
        result = runs.train_one(seeded, args.data, run_dir, resume=args.resume, progress=not args.quiet,
                                train_videos=train_videos, test_videos=test_videos, spec=spec, device=device,
                                time_limit_s=args.time_limit * 60 if args.time_limit else None)
        seconds.append(result.seconds)
        steps.append(result.steps)
        early = f" (time limit: stopped early, of {seeded.schedule.steps})" if result.steps < seeded.schedule.steps else ""
        print(f"seed {seed}: trained {result.steps} steps{early} in {result.seconds:.1f} s; "
              f"selected step {result.selected_step} ({runs.SELECTION_NOTE[result.select]}) -> {result.model_path}")
        if no_test:
            continue
        tested = runs.test_model(run_dir, args.data, videos=test_videos, device=device)
        if len(seeds) == 1:
            print(format_table(tested["metrics"]))
        rows.append(runs.headline(tested["metrics"]))
        (run_dir / "metrics_test.json").write_text(json.dumps(tested["metrics"], indent=2, default=float),
                                                   encoding="utf-8")
    if rows:
        print(runs.format_summary(seeds, rows, recipe.select))
        runs.write_summary(out / "summary.json", recipe, seeds, rows, seconds, steps)
    return 0

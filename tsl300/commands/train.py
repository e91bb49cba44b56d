"""``tsl300 train RECIPE --data DIR --out RUN``: train a recipe (one or several seeds), then
test each run on the test split and print the metrics (mean +- std over seeds). The work is
:func:`tsl300.train`; this command parses arguments and prints its report."""
from __future__ import annotations

import argparse

from ..errors import Tsl300Error
from ..engine.devices import add_device_arguments
from ..recipes import SELECT_CHOICES, load_recipe
from ._args import add_output_dir, with_examples

NAME = "train"
HELP = "train a recipe on a dataset (several seeds: mean +- std table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML, e.g. recipes/tsl300/flagship.yaml, or a method's "
                        "folder (recipes/tsl300: its main recipe)")
    parser.add_argument("--data", required=True, help="dataset folder (TSL-300 or generic layout)")
    add_output_dir(parser, "run folder (one sub-folder per seed with --seeds)", required=True, old=("--out",))
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
    with_examples(parser, "tsl300 train recipes/tsl300/flagship.yaml --data DATA -o runs/f --seeds 1,2,3",
                  "tsl300 train recipes/lacp --data DATA -o runs/lacp --set schedule.steps=200 --threads 1")


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


def recipe_file(given: str) -> str:
    """A recipe YAML as given; for a folder its main recipe (as ``bench`` picks it), else an error
    listing the folder's YAML files; for a missing file the closest names."""
    from pathlib import Path

    from ..benchmarking import main_recipe
    from ..errors import RecipeError
    from ..suggest import missing_path_hint

    path = Path(given)
    if path.is_dir():
        found = main_recipe(path)
        if found is not None:
            return str(found)
        yamls = sorted(p.name for p in path.glob("*.y*ml"))
        raise RecipeError(f"{path}: a folder without a main recipe ({path.name}.yaml or flagship.yaml); "
                          + (f"its recipes: {', '.join(yamls)}" if yamls else "it holds no YAML file"))
    if not path.exists():
        raise RecipeError(f"{path}: recipe not found{missing_path_hint(path)}")
    return given


def run(args: argparse.Namespace) -> int:
    from ..engine.devices import configure
    from ..engine.distributed import is_main_process
    from ..engine.trainer import SELECTION_NOTE
    from ..eval import format_table
    from ..experiment import train

    device = configure(args.device, args.threads)
    recipe = load_recipe(recipe_file(args.recipe),
                         list(args.overrides) + ([f"select={args.select}"] if args.select else []))
    report = train(recipe, args.data, args.output_dir, seeds=_seeds(args.seeds, recipe.seed), resume=args.resume,
                   test=not args.no_test, progress=not args.quiet, device=device,
                   time_limit_s=args.time_limit * 60 if args.time_limit else None)
    if not is_main_process():  # torchrun: rank 0 reports
        return 0
    for note in report.notes:
        print(note)
    for run in report.runs:
        result, steps = run.result, report.recipe.schedule.steps
        early = f" (time limit: stopped early, of {steps})" if result.steps < steps else ""
        print(f"seed {run.seed}: trained {result.steps} steps{early} in {result.seconds:.1f} s; "
              f"selected step {result.selected_step} ({SELECTION_NOTE[result.select]}) -> {result.model_path}")
        if len(report.runs) == 1 and run.metrics is not None:
            print(format_table(run.metrics))
    table = report.summary_table()
    if table:
        print(table)
    return 0

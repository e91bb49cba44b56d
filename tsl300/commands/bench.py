"""``tsl300 bench --recipes all --data DIR``: train and test recipes, write one results table."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.devices import add_device_arguments

NAME = "bench"
HELP = "train and test several recipes on one dataset; write a markdown + CSV results table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", nargs="+", default=["all"],
                        help="'all', method folder names under recipes/ (e.g. lacp tsl300) or YAML files")
    parser.add_argument("--data", required=True, help="dataset folder with train and test splits")
    parser.add_argument("--out", default="runs/bench", help="output folder (runs + results.md/csv)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key in every recipe, e.g. --set schedule.steps=100")
    parser.add_argument("--recipes-dir", help="folder of recipe folders (default: the checkout's recipes/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .. import benchmarking as bench
    from ..engine.devices import configure
    from ..errors import Tsl300Error

    device = configure(args.device, args.threads)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise Tsl300Error(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    recipes_dir = Path(args.recipes_dir) if args.recipes_dir else bench.default_recipes_dir()
    paths = bench.resolve_recipes(args.recipes, recipes_dir)
    out, data = Path(args.out), Path(args.data)
    rows = []
    for path in paths:
        print(f"== {path} (seeds {seeds})", flush=True)
        row = bench.run_recipe(path, data, out, seeds, args.overrides, device, progress=not args.quiet)
        s = row.summary()
        print(f"   avg mAP {s['avg_mAP']:.2f} ± {s['avg_mAP_std']:.2f}, Recall {s['Recall']:.2f}, "
              f"F2 {s['F2']:.2f}, {s['train_s']:.0f} s per seed", flush=True)
        rows.append(row)
        table = bench.results_table(rows)  # rewritten after each recipe: a long run keeps partial results
        caption = (f"Results on `{data}` (seeds {','.join(map(str, seeds))}; mean ± sample std; "
                   f"overrides: {' '.join(args.overrides) or 'none'}).")
        md, csv = bench.write_table(table, out, caption)
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {csv}")
    return 0

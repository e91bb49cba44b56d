"""``tsl300 bench --recipes all --data DIR``: train and test recipes, write one results table."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.devices import add_device_arguments
from ._args import add_output_dir, with_examples

NAME = "bench"
HELP = "train and test several recipes on one dataset; write a markdown + CSV results table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="required: 'all' (every method: hours), method folder names under recipes/ "
                             "(e.g. lacp tsl300) or YAML files")
    parser.add_argument("--data", required=True, help="dataset folder with train and test splits")
    add_output_dir(parser, "output folder (runs + results.md/csv)", default="runs/bench", old=("--out",))
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="[NAME:]KEY=VALUE",
                        help="override a key in every recipe (--set schedule.steps=100), or only in recipes "
                             "whose file or folder name starts with NAME (--set lacp:batch_size=8)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train this many (recipe, seed) runs at once in worker processes; with more "
                             "than one, each worker uses --threads torch threads (default 1)")
    parser.add_argument("--recipes-dir", help="folder of recipe folders (default: the checkout's recipes/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_arguments(parser)
    with_examples(parser, "tsl300 bench --recipes lacp tsl300 --data DATA -o runs/bench --seeds 1,2,3",
                  "tsl300 bench --recipes all --data DATA --set schedule.steps=100 --jobs 2")


def run(args: argparse.Namespace) -> int:
    from .. import benchmarking as bench
    from ..engine.devices import configure
    from ..errors import Tsl300Error

    device = configure(args.device, args.threads)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise Tsl300Error(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
    if args.jobs < 1:
        raise Tsl300Error(f"--jobs {args.jobs}: expected a positive integer")
    recipes_dir = Path(args.recipes_dir) if args.recipes_dir else bench.default_recipes_dir()
    if not args.recipes:  # 'all' is many hours of training: never the silent default
        known = sorted(p.name for p in recipes_dir.iterdir() if p.is_dir()) if recipes_dir.is_dir() else []
        raise Tsl300Error(f"--recipes is required: 'all' or some of {', '.join(known) or '(none found)'} "
                          f"(folders of {recipes_dir}), or YAML files")
    paths = bench.resolve_recipes(args.recipes, recipes_dir)
    out, data = Path(args.output_dir), Path(args.data)
    caption = (f"Results on `{data}` (seeds {','.join(map(str, seeds))}; mean ± sample std; "
               f"overrides: {' '.join(args.overrides) or 'none'}).")
    jobs = [(path, seed) for path in paths for seed in seeds]
    results: dict[tuple[Path, int], tuple[dict, float]] = {}
    rows: dict[Path, bench.BenchRow] = {}

    def finished(path: Path, seed: int, result) -> None:
        results[(path, seed)] = result
        if all((path, s) in results for s in seeds):  # a recipe is complete: report it, rewrite the table
            row = rows[path] = bench.bench_row(path, args.overrides, [results[(path, s)] for s in seeds])
            s = row.summary()
            print(f"== {path}: avg mAP {s['avg_mAP']:.2f} ± {s['avg_mAP_std']:.2f}, Recall {s['Recall']:.2f}, "
                  f"F2 {s['F2']:.2f}, {s['train_s']:.0f} s per seed", flush=True)
            bench.write_table(bench.results_table([rows[p] for p in paths if p in rows]), out, caption)

    if args.jobs == 1:
        for path, seed in jobs:
            finished(path, seed, bench.run_seed(path, seed, data, out, args.overrides, device, not args.quiet))
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(bench.run_seed, path, seed, data, out, args.overrides, str(device), False,
                                   args.threads or 1): (path, seed) for path, seed in jobs}
            for future in futures:
                finished(*futures[future], future.result())
    md, csv = out / "results.md", out / "results.csv"
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {csv}")
    return 0

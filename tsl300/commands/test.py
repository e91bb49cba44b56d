"""``tsl300 test RUN_OR_CKPT --data DIR``: predict a split with a trained model, write the
ActivityNet results JSON and print the TSL-300 metrics table (the work is :func:`tsl300.test`)."""
from __future__ import annotations

import argparse
import sys

from ..engine.devices import add_device_arguments
from ._args import add_output_dir, with_examples

NAME = "test"
HELP = "predict a split with a trained model (results JSON + metrics table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="run folder (its model.safetensors) or a .safetensors checkpoint")
    parser.add_argument("--data", required=True, help="dataset folder")
    parser.add_argument("--split", default="test", help="split to predict (default: test)")
    add_output_dir(parser, "folder for predictions_SPLIT.json (default: the run folder)")
    parser.add_argument("--output", dest="output_file", metavar="FILE",
                        help="results JSON file instead (kept for older scripts)")
    parser.add_argument("--batch-size", type=int, help="inference batch size (default: the recipe's)")
    add_device_arguments(parser)
    with_examples(parser, "tsl300 test runs/f/seed_1 --data DATA", "tsl300 test runs/f/seed_1 --data DATA -o results/")


def run(args: argparse.Namespace) -> int:
    from ..engine.devices import configure
    from ..eval import format_table
    from ..experiment import test

    device = configure(args.device, args.threads)
    from pathlib import Path

    output = args.output_file
    if output is None and args.output_dir is not None:
        if args.output_dir.endswith(".json"):  # before -o was a folder everywhere, it named the file
            print("tsl300 test: note: -o FILE.json is deprecated; use -o DIR or --output FILE", file=sys.stderr)
            output = args.output_dir
        else:
            output = Path(args.output_dir) / f"predictions_{args.split}.json"
    result = test(args.model, args.data, split=args.split, output=output, batch_size=args.batch_size,
                        device=device)
    meta = result["meta"]
    print(f"predictions: {result['predictions_path']}")
    print(f"model: {meta.get('recipe', {}).get('name') or meta.get('method')} step {meta.get('step')} "
          f"(selection: {meta.get('selection_note')})")
    if result["metrics"] is None:
        print(f"split {args.split!r} has no ground-truth segments: predictions written, nothing to evaluate")
    else:
        print(format_table(result["metrics"]))
    return 0

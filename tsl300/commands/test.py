"""``tsl300 test RUN_OR_CKPT --data DIR``: predict a split with a trained model, write the
ActivityNet results JSON and print the TSL-300 metrics table (the work is :func:`tsl300.test`)."""
from __future__ import annotations

import argparse

from ..engine.devices import add_device_arguments

NAME = "test"
HELP = "predict a split with a trained model (results JSON + metrics table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="run folder (its model.safetensors) or a .safetensors checkpoint")
    parser.add_argument("--data", required=True, help="dataset folder")
    parser.add_argument("--split", default="test", help="split to predict (default: test)")
    parser.add_argument("-o", "--output", help="results JSON (default: RUN/predictions_SPLIT.json)")
    parser.add_argument("--batch-size", type=int, help="inference batch size (default: the recipe's)")
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..engine.devices import configure
    from ..eval import format_table
    from ..experiment import test

    device = configure(args.device, args.threads)
    result = test(args.model, args.data, split=args.split, output=args.output, batch_size=args.batch_size,
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

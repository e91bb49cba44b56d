"""``tsl300 eval``: score a prediction JSON against a ground truth JSON (official TSL-300
metrics; see ``tsl300/eval/README.md``)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._args import add_output_dir, with_examples

NAME = "eval"
HELP = "Evaluate detections: mAP per tIoU, average mAP, TSL-300 Recall and F2."


def parse_tious(text: str) -> list[float]:
    """``start:stop:step`` (stop included, as ``np.linspace``) or a comma list of values."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = (stop - start) / step
            if abs(count - round(count)) > 1e-6:
                raise argparse.ArgumentTypeError(
                    f"{text!r}: (stop - start) must be a whole number of steps"
                )
            values = np.linspace(start, stop, int(round(count)) + 1).tolist()
        else:
            values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected start:stop:step (e.g. 0.1:0.3:0.05) or a comma list"
        ) from None
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: thresholds must lie in (0, 1]")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, help="ground truth JSON (gt.json layout)")
    parser.add_argument("--pred", required=True, help="predictions JSON ({'results': ...})")
    parser.add_argument(
        "--tiou",
        type=parse_tious,
        default=None,
        help="tIoU thresholds: start:stop:step, stop included, or a comma list "
        "(default 0.1:0.3:0.05, the TSL-300 ones)",
    )
    parser.add_argument("--subset", default="test", help="ground-truth subset (default: test)")
    add_output_dir(parser, "also write all figures to DIR/metrics.json")
    parser.add_argument("--json", metavar="FILE", help="also write all figures to this JSON file")
    parser.add_argument(
        "--ignore-unknown-labels",
        action="store_true",
        help="drop predictions whose label no ground-truth segment has (default: error)",
    )
    with_examples(parser, "tsl300 eval --gt GT.json --pred OUT/all.json",
                  "tsl300 eval --gt tsl300/resources/examples/crema_d_1001_example.gt.json "
                  "--pred runs/example/crema_d_1001_example.json -o runs/example")


def run(args: argparse.Namespace) -> int:
    from ..data.io import atomic_write_json
    from ..errors import DataError
    from ..eval import evaluate_detection, format_table

    result = evaluate_detection(
        args.gt,
        args.pred,
        tiou_thresholds=args.tiou,
        subset=args.subset,
        unknown_labels="ignore" if args.ignore_unknown_labels else "error",
    )
    print(format_table(result))
    targets = [Path(args.json)] if args.json else []
    if args.output_dir is not None:
        targets.append(Path(args.output_dir) / "metrics.json")
    for target in targets:
        try:  # temporary file + os.replace: a reader never sees half a file
            atomic_write_json(target, result, indent=1)
        except OSError as exc:
            reason = exc.strerror or exc
            raise DataError(f"{target}: cannot write the result ({reason})") from None
        print(f"wrote {target}")
    return 0

"""``tsl300 synth OUT``: write a synthetic dataset in the TSL-300 layout."""
from __future__ import annotations

import argparse

from ._args import with_examples

NAME = "synth"
HELP = "write a synthetic dataset (TSL-300 layout, real segment statistics, noisy points)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (created; files are overwritten)")
    parser.add_argument("--train", type=int, default=None, help="train videos (default 200)")
    parser.add_argument("--test", type=int, default=None, help="test videos (default 100)")
    parser.add_argument("--videos", type=int, default=None,
                        help="total videos, split 2:1 train:test (instead of --train/--test)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same bytes")
    parser.add_argument("--snippets-mean", type=float, default=None,
                        help="mean snippets per video (default: real TSL-300 durations, about 457)")
    parser.add_argument("--modalities", default="rgb,logmfcc",
                        help="'rgb,logmfcc' (TSL-300 layout, default) or NAME:DIM,... for a generic "
                             "layout, e.g. rgb:256,audio:64,text:32")
    parser.add_argument("--p-all", type=float, default=None,
                        help="share of segments carried by every modality (default 0.4)")
    parser.add_argument("--p-weak", type=float, default=None, help="share of weak segments (default 0.25)")
    with_examples(parser, "tsl300 synth DATA --train 200 --test 100 --seed 0",
                  "tsl300 synth D --videos 30 --modalities rgb:256,audio:64,text:32")


def _counts(args) -> tuple[int, int]:
    if args.videos is not None:
        if args.train is not None or args.test is not None:
            raise SystemExit("tsl300 synth: error: give --videos or --train/--test, not both")
        n_train = round(args.videos * 2 / 3)
        return n_train, args.videos - n_train
    return (200 if args.train is None else args.train), (100 if args.test is None else args.test)


def run(args) -> int:
    from ..data.synth import generate, parse_modalities

    n_train, n_test = _counts(args)
    try:
        modalities = parse_modalities(args.modalities)
    except ValueError as exc:
        raise SystemExit(f"tsl300 synth: error: --modalities: {exc}") from None
    extra = {k: v for k, v in (("p_all", args.p_all), ("p_weak", args.p_weak)) if v is not None}
    try:
        meta = generate(args.out, n_train=n_train, n_test=n_test, seed=args.seed, modalities=modalities,
                        snippets_mean=args.snippets_mean, **extra)
    except ValueError as exc:
        raise SystemExit(f"tsl300 synth: error: {exc}") from None
    lengths = [v["snippets"] for v in meta["videos"].values()]
    print(f"wrote {len(lengths)} videos ({n_train} train, {n_test} test; {meta['layout']} layout) to "
          f"{args.out} in {meta['seconds']:.1f} s; snippets per video mean {sum(lengths) / len(lengths):.0f}, "
          f"min {min(lengths)}, max {max(lengths)}")
    return 0

"""``tsl300 dataset build VIDEOS/ --points points.csv -o DATA``: your videos as a dataset."""
from __future__ import annotations

import argparse

from ._args import add_output_dir

NAME = "dataset"
HELP = "build a dataset that `tsl300 train`/`test` read from a folder of videos and point files"
EXAMPLE = """example:
  tsl300 dataset build my_videos/ --points my_points.csv --segments my_segments.csv -o data/mine
  tsl300 train recipes/default/default.yaml --data data/mine -o runs/mine
layout written: docs/dataset_layout.md"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..owndata.build import DEFAULT_EXTRACTORS, DEFAULT_TEST_FRACTION

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLE
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="videos + points (+ segments) -> dataset folder with features",
                           epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("videos", help="folder of videos (id = file name without suffix)")
    build.add_argument("--points", action="append", required=True, metavar="CSV",
                       help="points CSV video,time,label (repeat: one file per annotator)")
    build.add_argument("--segments", default=None, metavar="CSV",
                       help="segments CSV video,start,end,label: ground truth; those videos make the test split")
    add_output_dir(build, "dataset folder to write (resumable)", required=True, old=("--out",))
    build.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION,
                       help=f"share of labelled videos held out for test, taken from videos with segments "
                            f"(default {DEFAULT_TEST_FRACTION})")
    build.add_argument("--seed", type=int, default=0, help="seed of the test draw (default 0)")
    build.add_argument("--extractors", default=DEFAULT_EXTRACTORS,
                       help=f"extractors or sets, as tsl300 extract (default {DEFAULT_EXTRACTORS})")
    build.add_argument("-q", "--quiet", action="store_true", help="no per-video progress lines")


def run(args: argparse.Namespace) -> int:
    from ..owndata.build import build_dataset

    report = build_dataset(args.videos, args.points, args.output_dir, segments=args.segments,
                           test_fraction=args.test_fraction, seed=args.seed, extractors=args.extractors,
                           progress=not args.quiet)
    print(report)
    return 1 if report.failed else 0

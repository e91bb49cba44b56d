"""``tsl300 view RESULT.json -o page.html``: a self-contained HTML page of a result."""
from __future__ import annotations

import argparse
from pathlib import Path

NAME = "view"
HELP = "write one HTML page (works offline from file://) with the video, segments and score curves"
EXAMPLE = """example:
  tsl300 localize talk.mp4 -o out/ && tsl300 view out/talk.json --video talk.mp4 -o out/talk.html
  tsl300 view preds/clip.json --video clip.mp4 --gt data/mine/gt.json -o clip.html"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLE
    parser.add_argument("result", help="a result JSON written by tsl300 localize")
    parser.add_argument("--video", default=None, help="the video (default: the path stored in the result)")
    parser.add_argument("--gt", default=None, help="ground truth: a gt.json holding this video")
    parser.add_argument("-o", "--output", default=None, help="page to write (default: RESULT with .html)")


def run(args: argparse.Namespace) -> int:
    from ..owndata.viewer import write_view

    out = Path(args.output) if args.output else Path(args.result).with_suffix(".html")
    print(write_view(args.result, out, video=args.video, ground_truth=args.gt))
    return 0

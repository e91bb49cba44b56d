"""``tsl300 view RESULT.json -o DIR``: a self-contained HTML page of a result (DIR/RESULT.html)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._args import add_output_dir

NAME = "view"
HELP = "write one HTML page (works offline from file://) with the video, segments and score curves"
EXAMPLE = """example:
  tsl300 localize talk.mp4 -o out/ && tsl300 view out/talk.json --video talk.mp4 -o out/
  tsl300 view preds/clip.json --video clip.mp4 --gt data/mine/gt.json --output clip.html"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLE
    parser.add_argument("result", help="a result JSON written by tsl300 localize")
    parser.add_argument("--video", default=None, help="the video (default: the path stored in the result)")
    parser.add_argument("--gt", default=None, help="ground truth: a gt.json holding this video")
    add_output_dir(parser, "folder for the page, named after the result (default: the result's folder)")
    parser.add_argument("--output", dest="output_file", metavar="FILE", default=None,
                        help="the page's exact path instead")


def run(args: argparse.Namespace) -> int:
    from ..owndata.viewer import write_view

    out = args.output_file
    if out is None and args.output_dir is not None:
        if args.output_dir.endswith((".html", ".htm")):  # before -o was a folder everywhere, it named the page
            print("tsl300 view: note: -o PAGE.html is deprecated; use -o DIR or --output FILE", file=sys.stderr)
            out = args.output_dir
        else:
            out = Path(args.output_dir) / (Path(args.result).stem + ".html")
    out = Path(out) if out is not None else Path(args.result).with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(write_view(args.result, out, video=args.video, ground_truth=args.gt))
    return 0

"""``tsl300 annotate VIDEOS/ --points points.csv``: click points in the browser (local web app)."""
from __future__ import annotations

import argparse
import sys

NAME = "annotate"
HELP = "place positive/negative points on your videos in the browser (a local web app on 127.0.0.1)"
EXAMPLE = """example:
  tsl300 annotate my_videos/ --points my_points.csv --annotator alice
  # open the printed URL; keys: p positive, n negative, u undo, space play/pause, [ ] videos"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLE
    parser.add_argument("videos", help="folder of videos (searched recursively; id = file name without suffix)")
    parser.add_argument("--points", required=True,
                        help="points CSV (video,time,label[,annotator]); created, or resumed when it exists")
    parser.add_argument("--segments", default=None,
                        help="also draw segments (ground truth for a test split) into this CSV "
                             "(video,start,end,label)")
    parser.add_argument("--annotator", default="", help="name written in the annotator column of new points")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")


def run(args: argparse.Namespace) -> int:
    from ..owndata.annotate_server import make_server, url_of
    from ..owndata.folder import scan_folder
    from ..owndata.label_store import LabelStore

    folder = scan_folder(args.videos)
    if folder.skipped:
        print(f"{len(folder.skipped)} file(s) skipped:\n{folder.skipped_report()}", file=sys.stderr)
    if not folder.videos:
        print(f"tsl300 annotate: error: no usable video in {args.videos}", file=sys.stderr)
        return 1
    store = LabelStore(args.points, folder.durations, args.segments, args.annotator)
    server = make_server(folder, store, args.port)
    print(f"annotating {len(folder.videos)} video(s) into {args.points}"
          + (f" and {args.segments}" if args.segments else ""))
    print(f"open {url_of(server)}  (Ctrl+C stops; every click is already saved)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0

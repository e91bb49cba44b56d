"""``tsl300 localize PATH... -o DIR -f json|csv|srt|png|all``: segments of sentiment per video.

One model is loaded once for the whole batch. Each input gets ``DIR/<stem>.<ext>`` per
format; a file that fails (not media, truncated, no video stream...) is reported and the
batch goes on; the exit code is 0 only when every file succeeded.
"""
from __future__ import annotations

import sys
from pathlib import Path

NAME = "localize"
HELP = "find positive/negative sentiment segments in videos with a trained model"
FORMATS = ("json", "csv", "srt", "png")


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files (or folders of videos)")
    parser.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                        help="folder for the result files (default: current folder)")
    parser.add_argument("-f", "--format", default="json", choices=FORMATS + ("all",),
                        help="what to write per video (default: json); 'all' writes every format")
    parser.add_argument("-m", "--model", default=None,
                        help="shipped model name or checkpoint path (default: the shipped default model)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="drop segments scoring below this (default: keep all)")
    parser.add_argument("--all-proposals", action="store_true",
                        help="write the full ranked, overlapping proposal list (what average mAP is "
                             "computed on) instead of non-overlapping segments per class")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no segment listing")


VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".flv", ".ogv", ".3gp", ".m4v", ".mpg",
                  ".mpeg", ".wmv", ".ts"}


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; folders expand to the video files inside them (sorted, not recursive)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in VIDEO_SUFFIXES)
        else:
            out.append(p)
    return out


def output_paths(out_dir: Path, video: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    return {fmt: out_dir / f"{video.stem}.{fmt}" for fmt in formats}


def run(args) -> int:
    from tqdm.auto import tqdm

    from ..api import load_model
    from ..errors import Tsl300Error

    formats = FORMATS if args.format == "all" else (args.format,)
    videos = expand_paths(args.paths)
    if not videos:
        print(f"tsl300 localize: error: no video files in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    stems = {}
    for v in videos:
        if v.stem in stems:
            print(f"tsl300 localize: error: {stems[v.stem]} and {v} would write the same output "
                  f"files ({v.stem}.*); rename one or run them separately", file=sys.stderr)
            return 2
        stems[v.stem] = v
    out_dir = Path(args.output_dir)
    model = load_model(args.model, device=args.device)  # errors here are user-facing (exit 1)

    failures: list[tuple[Path, str]] = []
    written: list[Path] = []
    bar = tqdm(videos, desc="localize", unit="video", disable=args.quiet or len(videos) < 2,
               dynamic_ncols=True)
    for video in bar:
        try:
            result = model.localize(video, threshold=args.threshold, progress=not args.quiet,
                                    all_proposals=args.all_proposals)
        except Tsl300Error as exc:
            failures.append((video, str(exc)))
            continue
        targets = output_paths(out_dir, video, formats)
        for fmt, target in targets.items():
            if fmt == "json":
                result.to_json(target)
            elif fmt == "csv":
                result.to_csv(target)
            elif fmt == "srt":
                result.to_srt(target)
            else:
                result.save_plot(target)
            written.append(target)
        if not args.quiet:
            tqdm.write(str(result))
            sys.stdout.flush()
    bar.close()

    ok = len(videos) - len(failures)
    if not args.quiet or failures:
        print(f"tsl300 localize: {ok} of {len(videos)} video(s) done, {len(written)} file(s) "
              f"written to {out_dir}", file=sys.stderr)
    if failures:
        print("failed:", file=sys.stderr)
        for video, reason in failures:  # errors name their file; add it when one does not
            print(f"  {reason}" if reason.startswith(str(video)) else f"  {video}: {reason}", file=sys.stderr)
        return 1
    return 0

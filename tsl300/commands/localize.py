"""``tsl300 localize PATH... -o DIR -f json|csv|srt|png|all``: segments of sentiment per video.

Built for folders of thousands of videos: folders are searched recursively (and ``--list FILE``
names more), one model is loaded once per process, ``--workers N`` localizes N videos at a time,
a video whose outputs already exist (made by the same model with the same options) is skipped,
so a stopped batch resumes where it was, and every file is written atomically. A file that fails
(not media, truncated, no video stream...) is reported and the batch goes on; the exit code is
0 only when every file succeeded. ``--combined FILE`` also writes one ActivityNet results file
for the whole batch, ready for ``tsl300 eval``.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

NAME = "localize"
HELP = "find positive/negative sentiment segments in videos with a trained model"
FORMATS = ("json", "csv", "srt", "png")


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="video files and/or folders (searched recursively)")
    parser.add_argument("--list", action="append", default=[], metavar="FILE",
                        help="text file with one video path per line (relative to the file's folder)")
    parser.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                        help="folder for the result files (default: current folder)")
    parser.add_argument("-f", "--format", default="json", choices=FORMATS + ("all",),
                        help="what to write per video (default: json); 'all' writes every format")
    parser.add_argument("-m", "--model", default=None,
                        help="shipped model name or checkpoint path (default: the shipped default model)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    parser.add_argument("--threshold", type=score_threshold, default=None,
                        help="drop segments scoring below this (default: keep all)")
    parser.add_argument("--all-proposals", action="store_true",
                        help="write the full ranked, overlapping proposal list (what average mAP is "
                             "computed on) instead of non-overlapping segments per class")
    parser.add_argument("--workers", type=int, default=1,
                        help="videos localized at once, one process each (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo videos whose outputs already exist (default: skip them)")
    parser.add_argument("--combined", metavar="FILE",
                        help="also write one ActivityNet results JSON for every video of the batch "
                             "(implies a per-video JSON)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no segment listing")
    parser.add_argument("--transcripts", metavar="DIR", default=None,
                        help="folder of STEM.{json,srt,vtt} transcripts (whisper JSON/SRT, subtitles) for a "
                             "model that reads text; else STEM.srt/.vtt next to each video or its subtitle stream")
    parser.add_argument("--view", action="store_true",
                        help="also write an HTML page per video to look at the result (see tsl300 view)")
    parser.add_argument("--download", action="store_true",
                        help="let the model's extractors download the weights its sidecar names "
                             "(by URL with sha256; the URL is printed). Default: never download")


def score_threshold(text: str) -> float:
    """``--threshold``: a finite score in [0, 1] (``nan`` would write NaN, invalid JSON)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"{text!r}: a segment score threshold must be in [0, 1]")
    return value


@dataclass
class Job:
    """One video's work, picklable for a worker process."""

    video: Path
    targets: dict[str, Path]
    threshold: float | None
    all_proposals: bool
    progress: bool
    transcripts: str | None = None


@dataclass
class Outcome:
    video: Path
    error: str | None = None
    summary: str = ""
    written: list[Path] = field(default_factory=list)


def output_paths(out_dir: Path, video: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    return {fmt: out_dir / f"{video.stem}.{fmt}" for fmt in formats}


def is_done(targets: dict[str, Path], model_sha256: str, threshold: float | None, all_proposals: bool) -> bool:
    """Every output exists and, when a JSON is among them, it was made by this model and options
    (a changed model or option redoes the video instead of silently keeping stale results)."""
    from ..errors import Tsl300Error
    from ..types import LocalizationResult

    if not all(p.is_file() for p in targets.values()):
        return False
    if "json" not in targets:
        return True
    try:
        meta = LocalizationResult.from_json(targets["json"]).metadata
    except (Tsl300Error, OSError):
        return False
    return (meta.model_sha256, meta.threshold, meta.all_proposals) == (model_sha256, threshold, all_proposals)


def localize_one(model, job: Job) -> Outcome:
    """Localize one video and write its files; failures become an outcome, never an exception."""
    from ..errors import Tsl300Error

    try:
        result = model.localize(job.video, threshold=job.threshold, progress=job.progress,
                                all_proposals=job.all_proposals, transcripts=job.transcripts)
    except Tsl300Error as exc:
        return Outcome(job.video, error=str(exc))
    written = []
    try:
        for fmt, target in job.targets.items():
            if fmt == "json":
                result.to_json(target)
            elif fmt == "csv":
                result.to_csv(target)
            elif fmt == "srt":
                result.to_srt(target)
            else:
                result.save_plot(target)
            written.append(target)
    except OSError as exc:  # read-only folder, full disk: name the file and go on with the batch
        return Outcome(job.video, error=f"{job.video}: cannot write {exc.filename or target}: "
                                        f"{exc.strerror or exc}", written=written)
    return Outcome(job.video, summary=str(result), written=written)


_WORKER_MODEL = None


def _start_worker(model_name: str | None, device: str | None, threads: int, download: bool = False) -> None:
    import torch

    from ..api import load_model

    global _WORKER_MODEL
    torch.set_num_threads(threads)
    _WORKER_MODEL = load_model(model_name, device=device, download=download)


def _work(job: Job) -> Outcome:
    return localize_one(_WORKER_MODEL, job)


def run(args) -> int:
    from tqdm.auto import tqdm

    from ..api import load_model
    from ..errors import Tsl300Error
    from ..io.inputs import collect_inputs, unique_stems
    from ..process_pool import stopped_by_sigterm, worker_pool
    from ..types import LocalizationResult

    if args.workers < 1:
        print("tsl300 localize: error: --workers must be at least 1", file=sys.stderr)
        return 2
    formats = FORMATS if args.format == "all" else (args.format,)
    if getattr(args, "view", False) and "json" not in formats:
        formats = ("json",) + formats
    if args.combined and "json" not in formats:
        formats = ("json",) + formats
    try:
        videos = collect_inputs(args.paths, args.list)
        if not videos:
            raise Tsl300Error(f"no video files in {' '.join(args.paths + args.list) or '(no inputs given)'}")
        unique_stems(videos)
    except Tsl300Error as exc:
        print(f"tsl300 localize: error: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.output_dir)
    model = load_model(args.model, device=args.device, download=args.download)  # errors here are user-facing (exit 1)

    jobs, skipped = [], []
    for video in videos:
        targets = output_paths(out_dir, video, formats)
        if not args.overwrite and is_done(targets, model.sha256, args.threshold, args.all_proposals):
            skipped.append(video)
        else:
            jobs.append(Job(video, targets, args.threshold, args.all_proposals,
                            progress=not args.quiet and args.workers == 1, transcripts=args.transcripts))

    if not args.quiet:  # a rerun still shows what each finished video holds
        for video in skipped:
            json_path = output_paths(out_dir, video, ("json",))["json"]
            if json_path.is_file():
                print(LocalizationResult.from_json(json_path))
        sys.stdout.flush()
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(jobs), desc="localize", unit="video", disable=args.quiet or len(jobs) < 2,
               dynamic_ncols=True)

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if outcome.summary and not args.quiet:
            tqdm.write(outcome.summary)
            sys.stdout.flush()
        bar.update(1)

    if args.workers == 1 or len(jobs) < 2:
        for job in jobs:
            report(localize_one(model, job))
    else:
        workers = min(args.workers, len(jobs))
        threads = max(1, (os.cpu_count() or 1) // workers)
        largest_first = sorted(jobs, key=lambda j: -j.video.stat().st_size if j.video.is_file() else 0)
        with worker_pool(workers, _start_worker, (args.model, args.device, threads, args.download)) as pool, \
                stopped_by_sigterm(pool):  # SIGTERM: the workers go first, then this process
            for future in as_completed([pool.submit(_work, job) for job in largest_first]):
                report(future.result())
    bar.close()

    failures = [o for o in outcomes if o.error]
    if getattr(args, "view", False):
        failures += write_views(out_dir, [v for v in videos if v not in {o.video for o in failures}])
    written = sum(len(o.written) for o in outcomes)
    if args.combined:
        failed = {o.video for o in failures}
        write_combined(Path(args.combined), [output_paths(out_dir, v, ("json",))["json"]
                                             for v in videos if v not in failed])
    ok = len(outcomes) - len(failures)
    if not args.quiet or failures:
        kept = f"{len(skipped)} already done (kept; --overwrite redoes them)" if skipped else ""
        done = (f"{ok} of {len(jobs)} video(s) done" + (f", {kept}" if kept else "") +
                f", {written} file(s) written to {out_dir}") if jobs else f"nothing to do: {kept}"
        print(f"tsl300 localize: {done}" + (f"; all results in {args.combined}" if args.combined else ""),
              file=sys.stderr)
    if failures:
        print("failed:", file=sys.stderr)
        for o in failures:  # errors name their file; add it when one does not
            print(f"  {o.error}" if o.error.startswith(str(o.video)) else f"  {o.video}: {o.error}",
                  file=sys.stderr)
        return 1
    return 0


def write_views(out_dir: Path, videos: list[Path]) -> list[Outcome]:
    """``--view``: ``{stem}.html`` next to each result JSON (tsl300 view); failures as outcomes."""
    from ..errors import Tsl300Error
    from ..owndata.viewer import write_view

    failed = []
    for video in videos:
        paths = output_paths(out_dir, video, ("json", "html"))
        try:
            write_view(paths["json"], paths["html"], video=video)
        except (Tsl300Error, OSError) as exc:
            failed.append(Outcome(video, error=f"{video}: cannot write its page: {exc}"))
    return failed


def write_combined(path: Path, json_files: list[Path]) -> None:
    """One ActivityNet results file from the per-video JSONs (fresh and kept ones alike)."""
    from ..types import LocalizationResult, results_to_json

    results_to_json([LocalizationResult.from_json(p) for p in json_files], path)

"""``tsl300 extract``: features for files, folders or list files, in the TSL-300 layout.

Resumable (finished videos are skipped), atomic (temp file + rename), parallel over files
(``--workers``), and one bad file never stops the batch: failures are listed at the end and
the exit code is 1.
"""
from __future__ import annotations

import argparse
import sys
import time
import contextlib
from concurrent.futures import as_completed
from pathlib import Path

from ..errors import Tsl300Error
from ..process_pool import stopped_by_sigterm, worker_pool

NAME = "extract"
HELP = "compute per-snippet features of videos (TSL-300 layout: features/{split}/{modality}/{vid}.npy)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", help="video files and/or folders (searched recursively)")
    parser.add_argument("-o", "--output", required=True, help="output root (gets features/, fps_dict.json ...)")
    parser.add_argument("--list", action="append", default=[], metavar="FILE",
                        help="text file with one video path per line (relative to the file's folder)")
    parser.add_argument("--split", default="test", help="split folder name (default: test)")
    parser.add_argument("--extractors", default="default",
                        help="comma list of extractors or sets (default = visual_stats,audio_prosody; "
                             "tsl300 = i3d_rgb,logmel_tsl300)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="extractor option, e.g. i3d_rgb.weights=rgb_imagenet.pt (repeatable)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--allow-truncated", action="store_true",
                        help="use the decodable part of truncated files (with a warning) instead of failing")
    parser.add_argument("--overwrite", action="store_true", help="recompute videos that are already done")
    parser.add_argument("--list-extractors", action="store_true", help="print available extractors and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def parse_options(items: list[str]) -> dict[str, dict]:
    options: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, field = key.partition(".")
        if not sep or not dot:
            raise Tsl300Error(f"--set {item!r}: expected NAME.KEY=VALUE")
        options.setdefault(name, {})[field] = _parse_value(value)
    return options


def _parse_value(value: str):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


_WORKER_EXTRACTORS: dict = {}


def _cache_key(names: list[str], options: dict) -> str:
    return repr((names, sorted((k, sorted(v.items())) for k, v in options.items())))


def _build(names: list[str], options: dict):
    from ..extractors import get_extractor
    key = _cache_key(names, options)
    if key not in _WORKER_EXTRACTORS:
        _WORKER_EXTRACTORS[key] = [get_extractor(n, **options.get(n, {})) for n in names]
    return _WORKER_EXTRACTORS[key]


def extract_one(path: str, vid: str, names: list[str], options: dict, output: str, split: str,
                allow_truncated: bool, overwrite: bool = False
                ) -> tuple[str, str | None, tuple[str, ...] | None, float]:
    """Extract and write one video; returns (vid, error or None, missing modalities, seconds).

    Missing modalities ``None``: not extracted here, because another process sharing the output
    folder holds the video's claim or has finished it meanwhile.
    """
    import warnings

    from ..extractors import FeatureStore, extract_video

    start = time.perf_counter()
    store = FeatureStore(output, split)
    try:
        with store.claim(vid) as mine:
            extractors = _build(names, options)
            if not mine or (not overwrite and store.is_done(vid, [e.modality for e in extractors])):
                return vid, None, None, time.perf_counter() - start
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                result = extract_video(path, extractors, allow_truncated=allow_truncated)
            store.write_video(vid, result.stored, result.missing, result.fps, result.duration)
        return vid, None, result.missing, time.perf_counter() - start
    except Tsl300Error as exc:
        return vid, str(exc), (), time.perf_counter() - start
    except OSError as exc:  # disk full, output folder not writable: name both sides
        where = f" ({exc.filename})" if exc.filename else ""
        return (vid, f"{path}: cannot write its features under {output}: {exc.strerror or exc}{where}", (),
                time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a batch reports every failure and goes on
        return vid, f"{path}: unexpected {type(exc).__name__}: {exc}", (), time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..data.io import check_video_id
    from ..io.inputs import collect_inputs, unique_stems
    from ..extractors import FeatureStore, available_extractors, expand_names, get_extractor

    if args.list_extractors:
        print("\n".join(available_extractors()))
        return 0
    names = expand_names(args.extractors)
    options = parse_options(args.set)
    unknown = set(options) - set(names)
    if unknown:
        raise Tsl300Error(f"--set for extractors not selected: {', '.join(sorted(unknown))}")
    paths = collect_inputs(args.inputs, args.list)
    if not paths:
        raise Tsl300Error("no input videos (give files, folders or --list FILE)")
    for path in paths:
        check_video_id(path.stem, path)
    by_vid = unique_stems(paths)

    extractors = [get_extractor(n, **options.get(n, {})) for n in names]
    store = FeatureStore(args.output, args.split)
    store.prepare([e.spec() for e in extractors])
    modalities = [e.modality for e in extractors]
    todo = {vid: p for vid, p in by_vid.items() if args.overwrite or not store.is_done(vid, modalities)}
    skipped = len(by_vid) - len(todo)

    failures: list[str] = []
    missing_audio: list[str] = []
    elsewhere: list[str] = []
    jobs = [(str(p), vid, names, options, args.output, args.split, args.allow_truncated, args.overwrite)
            for vid, p in todo.items()]
    bar = tqdm(total=len(jobs), disable=args.quiet, unit="video", desc="extract")
    if args.workers <= 1 or len(jobs) <= 1:
        _WORKER_EXTRACTORS[_cache_key(names, options)] = extractors
        results = (extract_one(*job) for job in jobs)
        pool = None
    else:
        pool = worker_pool(args.workers)
        results = (f.result() for f in as_completed([pool.submit(extract_one, *job) for job in jobs]))
    guard = stopped_by_sigterm(pool) if pool is not None else contextlib.nullcontext()
    try:
        with guard:  # SIGTERM: the workers go first, then this process
            for vid, error, missing, _seconds in results:
                if missing is None:
                    elsewhere.append(vid)
                elif error:
                    failures.append(error)
                    bar.write(f"failed: {error}", file=sys.stderr)
                elif missing:
                    missing_audio.append(vid)
                bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    done = len(jobs) - len(failures) - len(elsewhere)
    shared = f", {len(elsewhere)} taken by another process on this folder" if elsewhere else ""
    print(f"extracted {done}, skipped {skipped} already done, failed {len(failures)}{shared}"
          f" -> {Path(args.output) / 'features' / args.split}")
    if missing_audio:
        print(f"no usable audio (marked missing) in {len(missing_audio)}: {', '.join(missing_audio)}")
    if failures:
        print(f"{len(failures)} file(s) failed:", file=sys.stderr)
        for error in failures:
            print(f"  {error}", file=sys.stderr)
        return 1
    return 0

"""Datasets in the TSL-300 layout made of spliced emotional streams (:mod:`tsl300.data.splice`).

Streams are written once (``videos/{source}/{source}_{k:03d}.mp4`` with a ``.gt.json`` sidecar
holding the ground truth; a rebuild reuses them and only recomputes features);
features come from the same extraction code ``tsl300.localize`` runs; each training stream
gets one point label per ground-truth segment, drawn from a Gaussian around the segment centre
(as TSL-300's ``point_gaussian``) and kept inside the segment.

Command line (what ``recipes/default/README.md`` runs)::

    python -m tsl300.data.splice_dataset ../shared/media runs/splice --streams 48 --seed 0

writes ``runs/splice/default`` (train: CREMA-D 1001 + 1002; test: fresh CREMA-D streams) and
``runs/splice/loso_{source}`` for each held-out source (train: the other two; test: it).
"""
from __future__ import annotations

import argparse
import functools
import json
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..classes import CLASS_CODES
from ..timegrid import frame_to_snippet, seconds_to_frame
from .io import atomic_write_json
from .layout import write_layout, write_spec
from .splice import (SpeakerSource, SplicedStream, crema_d_speaker, decode_source, emodb_speaker,
                     splice_stream)
from .types import Segment, Video

POINT_SIGMA_FRACTION = 1 / 6
"""Point labels: frame ~ N(segment centre, (duration / 6)^2), clipped into the segment."""


def media_sources(media: str | Path) -> dict[str, SpeakerSource]:
    """The three real speakers in ``../shared/media``: CREMA-D 1001 (video), CREMA-D 1002 and
    EmoDB speaker 03 (audio only)."""
    media = Path(media)
    return {
        "crema_d_1001": crema_d_speaker(media / "clips", "1001"),
        "crema_d_1002": crema_d_speaker(media / "speech_emotion" / "crema_d_1002", "1002"),
        "emodb_03": emodb_speaker(media / "speech_emotion" / "emodb_speaker03", "03"),
    }


@functools.lru_cache(maxsize=4)
def _decoded(media: str, name: str):
    return decode_source(media_sources(media)[name])


def make_stream(media: str | Path, name: str, path: str | Path, seed: int, **plan_kwargs) -> SplicedStream:
    """Stream ``path`` of source ``name``, planned from ``seed``; reused when ``path`` and its
    ground-truth sidecar (``.gt.json``) exist from the same source and seed."""
    path = Path(path)
    sidecar = path.with_suffix(".gt.json")
    key = json.loads(json.dumps({"source": name, "seed": seed, "plan": plan_kwargs}))
    if path.is_file() and sidecar.is_file():
        try:
            saved = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            saved = None  # unreadable cache (e.g. an interrupted older run): rebuild it
        if isinstance(saved, dict) and saved.get("key") == key:
            return _stream_from_json(path.parent, saved["stream"])
    stream = splice_stream(_decoded(str(media), name), path, rng=np.random.default_rng(seed), **plan_kwargs)
    atomic_write_json(sidecar, {"key": key, "stream": _stream_to_json(stream)}, indent=1)
    return stream


def _stream_to_json(s: SplicedStream) -> dict:
    return {"file": s.path.name, "fps": s.fps, "duration": s.duration, "sample_rate": s.sample_rate,
            "n_samples": s.n_samples, "n_frames": s.n_frames, "synthetic_video": s.synthetic_video,
            "segments": [asdict(g) for g in s.segments], "source_clips": s.source_clips}


def _stream_from_json(folder: Path, d: dict) -> SplicedStream:
    return SplicedStream(folder / d["file"], d["fps"], d["duration"], d["sample_rate"], d["n_samples"],
                         d["n_frames"], [Segment(**g) for g in d["segments"]],
                         synthetic_video=d["synthetic_video"], source_clips=d["source_clips"])


def point_labels(segments: Sequence[Segment], fps: float, rng: np.random.Generator,
                 classes: Sequence[str] = CLASS_CODES) -> tuple[np.ndarray, np.ndarray]:
    """One point per segment: ``(points (K, 2) [snippet, class], frames (K,))`` sorted by frame."""
    rows = []
    for seg in segments:
        first = seconds_to_frame(seg.start, fps)
        last = max(first, seconds_to_frame(seg.end, fps) - 1)
        centre = 0.5 * (seg.start + seg.end)
        t = rng.normal(centre, (seg.end - seg.start) * POINT_SIGMA_FRACTION)
        frame = int(np.clip(seconds_to_frame(max(t, 0.0), fps), first, last))
        rows.append((frame, list(classes).index(seg.label)))
    rows.sort()
    frames = np.array([r[0] for r in rows], dtype=np.int64)
    points = np.array([[frame_to_snippet(f), c] for f, c in rows], dtype=np.int64).reshape(-1, 2)
    return points, frames


def stream_video(stream: SplicedStream, featurize: Callable[[Path], Video], subset: str,
                 rng: np.random.Generator) -> Video:
    """Features of a written stream plus its ground truth (and points when ``subset=='train'``)."""
    video = featurize(stream.path)
    video.vid = stream.path.stem
    video.subset = subset
    video.segments = list(stream.segments)
    if subset == "train":
        video.points, video.point_frames = point_labels(stream.segments, video.fps, rng)
        video.points[:, 0] = np.minimum(video.points[:, 0], video.num_snippets - 1)
    return video


def write_splice_dataset(root: str | Path, train: Sequence[Video], test: Sequence[Video],
                         specs: Mapping[str, Mapping]) -> Path:
    """Write ``train`` and ``test`` videos in the TSL-300 layout (with ``videosenti_gt.json``
    holding the train segments too) and each modality's extractor spec."""
    root = Path(root)
    write_layout(root, list(train) + list(test))
    for split in ("train", "test"):
        for name, spec in specs.items():
            write_spec(root, split, name, spec)
    return root


def _stream_task(task) -> Video:
    """Worker: splice one stream (or reuse it) and compute its features."""
    media, name, path, seed, subset, specs = task
    from ..featurize import featurize

    stream = make_stream(media, name, path, seed)
    return stream_video(stream, lambda p: featurize(p, specs), subset, np.random.default_rng([seed, 1]))


def build_all(media: str | Path, out: str | Path, streams: int = 48, test_streams: int = 12,
              seed: int = 0, workers: int = 1, extractors=("default",)) -> dict[str, Path]:
    """The default dataset and one leave-one-source-out dataset per source (see module doc).

    ``workers`` processes splice and featurize streams in parallel; the result does not depend
    on it (each stream has its own seed).
    """
    from ..featurize import default_featurizer

    _, specs = default_featurizer(extractors)
    out = Path(out)
    sources = media_sources(media)
    tasks, owner = [], []
    for k, name in enumerate(sources):
        for subset, count, offset in (("train", streams, 0), ("test", test_streams, 500)):
            folder = out / "videos" / (name if subset == "train" else f"{name}_test")
            for i in range(count):
                tasks.append((str(media), name, folder / f"{folder.name}_{i:03d}.mp4",
                              seed * 100_000 + k * 1000 + offset + i, subset, specs))
                owner.append((name, subset))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            videos = list(pool.map(_stream_task, tasks, chunksize=2))
    else:
        videos = [_stream_task(t) for t in tasks]
    by = {(n, s): [v for v, o in zip(videos, owner) if o == (n, s)] for n in sources for s in ("train", "test")}
    roots = {}
    ship_ok = [n for n, s in sources.items() if s.ship_ok]
    roots["default"] = write_splice_dataset(
        out / "default", [v for n in ship_ok for v in by[n, "train"]],
        [v for n in ship_ok for v in by[n, "test"]], specs)
    for held_out in sources:
        roots[f"loso_{held_out}"] = write_splice_dataset(
            out / f"loso_{held_out}", [v for n in sources if n != held_out for v in by[n, "train"]],
            by[held_out, "test"] + _as_test(by[held_out, "train"]), specs)
    return roots


EXAMPLE_SEED = 20240
"""Seed of the shipped example video (tsl300/resources/examples/), distinct from every
training-stream seed (those are below 100 000 per ``--seed`` step and start at 0)."""


def write_example(media: str | Path, path: str | Path, seed: int = EXAMPLE_SEED) -> SplicedStream:
    """The shipped example: a CREMA-D 1001 stream with three emotional clips (~12-16 s), and
    its ground truth in ``<path>.gt.json``."""
    return make_stream(media, "crema_d_1001", path, seed, n_emotional=(3, 3),
                       background_seconds=(1.0, 2.5))


def _as_test(videos: Sequence[Video]) -> list[Video]:
    """Training streams of a held-out source reused as extra test videos (no points)."""
    out = []
    for v in videos:
        out.append(Video(vid=v.vid, fps=v.fps, features=v.features, segments=v.segments,
                         subset="test", duration=v.duration, missing=v.missing))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tsl300.data.splice_dataset",
                                     description="Build spliced emotional-speech datasets (TSL-300 layout).")
    parser.add_argument("media", help="the media folder (../shared/media)")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--streams", type=int, default=48, help="training streams per source")
    parser.add_argument("--test-streams", type=int, default=12, help="test streams per source")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    args = parser.parse_args(argv)
    roots = build_all(args.media, args.out, args.streams, args.test_streams, args.seed, args.workers)
    for name, root in roots.items():
        print(f"{name}: {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Datasets in the TSL-300 layout made of spliced emotional streams (:mod:`tsl300.data.splice`).

Streams are written once per speaker source (``videos/{source}/{source}_{k:03d}.mp4`` plus a
``streams.json`` manifest, reused when present so a rebuild only re-extracts what changed);
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
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import CLASS_NAMES
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


def make_streams(source: SpeakerSource, out_dir: str | Path, count: int, seed: int,
                 **plan_kwargs) -> list[SplicedStream]:
    """``count`` streams of one speaker, seeded per stream; reuses a matching manifest."""
    out_dir = Path(out_dir)
    manifest = out_dir / "streams.json"
    key = {"source": source.name, "count": count, "seed": seed, "plan": plan_kwargs}
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("key") == key and all((out_dir / s["file"]).is_file() for s in saved["streams"]):
            return [_stream_from_json(out_dir, s) for s in saved["streams"]]
    clips = decode_source(source)
    streams = [splice_stream(clips, out_dir / f"{source.name}_{k:03d}.mp4",
                             rng=np.random.default_rng([seed, k]), **plan_kwargs)
               for k in range(count)]
    atomic_write_json(manifest, {"key": key, "streams": [_stream_to_json(s) for s in streams]},
                      indent=1)
    return streams


def _stream_to_json(s: SplicedStream) -> dict:
    return {"file": s.path.name, "fps": s.fps, "duration": s.duration, "sample_rate": s.sample_rate,
            "n_samples": s.n_samples, "n_frames": s.n_frames, "synthetic_video": s.synthetic_video,
            "segments": [asdict(g) for g in s.segments], "source_clips": s.source_clips}


def _stream_from_json(folder: Path, d: dict) -> SplicedStream:
    return SplicedStream(folder / d["file"], d["fps"], d["duration"], d["sample_rate"], d["n_samples"],
                         d["n_frames"], [Segment(**g) for g in d["segments"]],
                         synthetic_video=d["synthetic_video"], source_clips=d["source_clips"])


def point_labels(segments: Sequence[Segment], fps: float, rng: np.random.Generator,
                 classes: Sequence[str] = CLASS_NAMES) -> tuple[np.ndarray, np.ndarray]:
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


Featurizer = Callable[[Path], Video]
"""Path -> :class:`Video` with features on the snippet grid (``tsl300.featurize``)."""


def stream_video(stream: SplicedStream, featurize: Featurizer, subset: str,
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


def build_all(media: str | Path, out: str | Path, streams: int = 48, test_streams: int = 12,
              seed: int = 0, featurize: Featurizer | None = None,
              specs: Mapping[str, Mapping] | None = None) -> dict[str, Path]:
    """The default dataset and one leave-one-source-out dataset per source (see module doc)."""
    from ..featurize import default_featurizer

    if featurize is None:
        featurize, specs = default_featurizer()
    out = Path(out)
    sources = media_sources(media)
    train_videos, test_videos = {}, {}
    for k, (name, source) in enumerate(sources.items()):
        rng = np.random.default_rng([seed, k, 99])
        made = make_streams(source, out / "videos" / name, streams, seed=seed * 1000 + k)
        held = make_streams(source, out / "videos" / f"{name}_test", test_streams,
                            seed=seed * 1000 + 500 + k)
        train_videos[name] = [stream_video(s, featurize, "train", rng) for s in made]
        test_videos[name] = [stream_video(s, featurize, "test", rng) for s in held]
    roots = {}
    ship_ok = [n for n, s in sources.items() if s.ship_ok]
    roots["default"] = write_splice_dataset(
        out / "default", [v for n in ship_ok for v in train_videos[n]],
        [v for n in ship_ok for v in test_videos[n]], specs)
    for held_out in sources:
        roots[f"loso_{held_out}"] = write_splice_dataset(
            out / f"loso_{held_out}", [v for n in sources if n != held_out for v in train_videos[n]],
            test_videos[held_out] + _as_test(train_videos[held_out]), specs)
    return roots


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
    args = parser.parse_args(argv)
    roots = build_all(args.media, args.out, args.streams, args.test_streams, args.seed)
    for name, root in roots.items():
        print(f"{name}: {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speaker-disjoint untrimmed audio streams from ``more_speech`` (and their features, cached).

Each stream holds ONE speaker group (:func:`tsl300.data.more_speech.speaker_group`): its
emotional clips in random order with that speaker's neutral speech between them as background,
planned by the splice tool (:func:`tsl300.data.splice.plan_stream`) and laid end to end in
memory; ground truth comes from sample counts. Streams are kept as audio (no video is
encoded) and featurised by feeding the extractors' sinks the 16 kHz samples on a 25 fps still
clock, the clock :mod:`tsl300.data.splice` gives audio-only sources. Cross-validation builds one
cache (:func:`build_cache`) and then writes fold layouts from it (:func:`write_fold`).

URDU speakers rarely have neutral speech of their own; their streams borrow neutral clips of
other URDU speakers of the same gender (said in the model card), and serve evaluation only.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .more_speech import LEVEL_TIED, corpus_of, normalise_loudness, read_labels, speaker_sources
from .more_speech import ROLE
from .splice import BACKGROUND, DecodedClip, SourceClip, SpeakerSource, decode_clip, plan_stream
from .types import Segment, Video

SAMPLE_RATE = 16000
FPS = 25.0
"""The still clock of audio-only streams (as :data:`tsl300.data.splice.STILL_FPS`)."""


@dataclass
class AudioStream:
    """One spliced stream: 16 kHz mono audio, its segments and the speaker group it came from."""

    vid: str
    group: str
    audio: np.ndarray
    segments: list[Segment]

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def decode_group(source: SpeakerSource) -> list[DecodedClip]:
    """All clips of a group at 16 kHz mono, loudness-normalised where the corpus ties level to
    emotion (:data:`tsl300.data.more_speech.LEVEL_TIED`)."""
    clips = [decode_clip(c, SAMPLE_RATE) for c in source.clips]
    if corpus_of(source.name) in LEVEL_TIED:
        for c in clips:
            c.audio = normalise_loudness(c.audio, SAMPLE_RATE)
    return clips


def assemble(clips: list[DecodedClip], rng: np.random.Generator, **plan_kwargs):
    """(audio, segments) of one stream planned by the splice tool from ``rng``."""
    pieces = plan_stream(clips, rng, **plan_kwargs)
    audio = np.concatenate([clips[p.clip].audio[p.offset:p.offset + p.length] for p in pieces])
    bounds = np.concatenate([[0], np.cumsum([p.length for p in pieces])])
    segments = [Segment(float(bounds[k] / SAMPLE_RATE), float(bounds[k + 1] / SAMPLE_RATE), p.role)
                for k, p in enumerate(pieces) if p.role != BACKGROUND]
    return audio.astype(np.float32), segments


def make_streams(source: SpeakerSource, count: int, seed: int, **plan_kwargs) -> list[AudioStream]:
    """``count`` streams of one group, stream ``k`` planned from ``(seed, k)``."""
    clips = decode_group(source)
    out = []
    for k in range(count):
        audio, segments = assemble(clips, np.random.default_rng([seed, k]), **plan_kwargs)
        out.append(AudioStream(f"{source.name}_{k:03d}", source.name, audio, segments))
    return out


def urdu_sources(folder: str | Path) -> dict[str, SpeakerSource]:
    """URDU speakers with emotional clips; background = own neutral clips, else those of the
    other URDU speakers of the same gender (``SF*`` / ``SM*``)."""
    rows = [r for r in read_labels(folder) if r.source == "urdu" and r.polarity in ROLE]
    gender = {r.speaker: r.speaker.split("_", 1)[1][:2] for r in rows}
    neutral = {}
    for r in rows:
        if ROLE[r.polarity] == BACKGROUND:
            neutral.setdefault(r.speaker, []).append(SourceClip(r.path, r.emotion, BACKGROUND))
    out = {}
    for speaker in sorted(gender):
        emotional = [SourceClip(r.path, r.emotion, ROLE[r.polarity]) for r in rows
                     if r.speaker == speaker and ROLE[r.polarity] != BACKGROUND]
        if not emotional:
            continue
        background = neutral.get(speaker) or [c for s, cs in neutral.items()
                                              if gender[s] == gender[speaker] for c in cs]
        out[speaker] = SpeakerSource(speaker, tuple(emotional + background), ship_ok=False,
                                     licence="URDU dataset: research use only")
    return out


def n_snippets(n_samples: int, fps: float = FPS) -> int:
    from ..extractors.base import snippet_count

    return snippet_count(int(math.ceil(n_samples / SAMPLE_RATE * fps)))


def stream_features(audio: np.ndarray, extractors, fps: float = FPS, chunk: int = 16000) -> dict[str, np.ndarray]:
    """Features of 16 kHz mono ``audio`` from each extractor's sink, fed in ``chunk``-sample
    pieces exactly as the decoder feeds them (an aligned audio request on a ``fps`` clock)."""
    from ..io import AudioChunk

    rows = n_snippets(len(audio), fps)
    out = {}
    for extractor in extractors:
        request = extractor.request(None, fps)
        sink = extractor.open(None, fps)
        for start in range(0, len(audio), chunk):
            sink.feed(AudioChunk(request, start, audio[None, start:start + chunk], SAMPLE_RATE))
        out[extractor.spec().modality] = np.asarray(sink.result(rows), np.float32)
    return out


def build_cache(folder: str | Path, out: str | Path, extractors, streams_per_group: int = 6,
                seed: int = 0, urdu_streams: int = 2) -> Path:
    """Streams of every ASED / emodb_2s group (and URDU for evaluation) and their features,
    written once: ``out/streams.json`` (ground truth, groups) and ``out/<modality>.npz``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = {**speaker_sources(folder), **urdu_sources(folder)}
    meta, feats = [], {e.spec().modality: {} for e in extractors}
    for g, (name, source) in enumerate(sources.items()):
        count = urdu_streams if name.startswith("urdu") else streams_per_group
        for stream in make_streams(source, count, seed * 100_000 + g):
            for modality, array in stream_features(stream.audio, extractors).items():
                feats[modality][stream.vid] = array
            meta.append({"vid": stream.vid, "group": stream.group, "duration": stream.duration,
                         "segments": [[s.start, s.end, s.label] for s in stream.segments]})
    for modality, arrays in feats.items():
        np.savez_compressed(out / f"{modality}.npz", **arrays)
    specs = {e.spec().modality: e.spec().to_dict() for e in extractors}
    (out / "streams.json").write_text(json.dumps({"streams": meta, "specs": specs}, indent=0))
    return out


def load_cache(cache: str | Path, modalities) -> tuple[list[Video], dict]:
    """The cached streams as :class:`Video` s (subset unset) and the modalities' specs."""
    cache = Path(cache)
    data = json.loads((cache / "streams.json").read_text())
    arrays = {m: np.load(cache / f"{m}.npz") for m in modalities}
    videos = []
    for s in data["streams"]:
        video = Video(vid=s["vid"], fps=FPS, features={m: arrays[m][s["vid"]] for m in modalities},
                      segments=[Segment(a, b, c) for a, b, c in s["segments"]], duration=s["duration"])
        video.group = s["group"]
        videos.append(video)
    return videos, {m: data["specs"][m] for m in modalities}


def write_fold(root: str | Path, train: list[Video], test: list[Video], specs: dict, seed: int = 0) -> Path:
    """A TSL-300 layout with ``train`` (one Gaussian point per segment) and ``test`` videos."""
    from .layout import write_layout, write_spec
    from .splice_dataset import point_labels

    rng = np.random.default_rng(seed)
    out = []
    for subset, videos in (("train", train), ("test", test)):
        for v in videos:
            w = Video(vid=v.vid, fps=v.fps, features=v.features, segments=v.segments, subset=subset,
                      duration=v.duration)
            if subset == "train":
                w.points, w.point_frames = point_labels(v.segments, v.fps, rng)
                w.points[:, 0] = np.minimum(w.points[:, 0], w.num_snippets - 1)
            out.append(w)
    root = Path(root)
    write_layout(root, out)
    for split in ("train", "test"):
        for name, spec in specs.items():
            write_spec(root, split, name, spec)
    return root


EXTRACTORS = ("audio_prosody", "egemaps_lld", "speech_activity")
"""What the default model's recipe compares and gates with (cached once)."""


def main(argv: list[str] | None = None) -> int:
    """``python -m tsl300.data.speaker_streams ../shared/media/more_speech runs/default/cache``"""
    import argparse

    from ..extractors import build_extractors

    parser = argparse.ArgumentParser(prog="python -m tsl300.data.speaker_streams", description=main.__doc__)
    parser.add_argument("more_speech", help="the more_speech folder (with labels.csv)")
    parser.add_argument("out", help="cache folder")
    parser.add_argument("--streams", type=int, default=6, help="streams per ASED / EmoDB speaker group")
    parser.add_argument("--urdu-streams", type=int, default=2, help="streams per URDU speaker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extractors", default=",".join(EXTRACTORS))
    args = parser.parse_args(argv)
    out = build_cache(args.more_speech, args.out, build_extractors(args.extractors.split(",")),
                      args.streams, args.seed, args.urdu_streams)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

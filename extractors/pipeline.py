"""``extract_video``: decode a file once and run every requested extractor on that one pass."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from tsl300.io import AudioChunk, AudioRequest, FrameBatch, MediaInfo, MediaStream, probe

from .base import Extractor, snippet_count
from .registry import expand_names, get_extractor
from .spec import ExtractorSpec


@dataclass
class ExtractionResult:
    """Features of one video on the snippet grid.

    ``features``: modality -> (T, *shape) array, ready for a model; ``stored``: modality -> the
    array as written to disk (the same, except ``flat`` layouts such as TSL-300's logmfcc);
    ``missing``: modalities without usable input (their arrays are zeros).
    """

    path: str
    fps: float
    n_frames: int
    n_snippets: int
    duration: float
    features: dict[str, np.ndarray]
    stored: dict[str, np.ndarray]
    specs: dict[str, ExtractorSpec]
    missing: tuple[str, ...] = ()
    info: MediaInfo | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def meta(self) -> dict:
        return {"fps": self.fps, "duration": self.duration, "n_frames": self.n_frames,
                "n_snippets": self.n_snippets, "missing": list(self.missing)}


def build_extractors(extractors) -> list[Extractor]:
    """Names, comma lists, set names or Extractor instances -> instances (one per modality)."""
    if isinstance(extractors, (str, Extractor)):
        extractors = [extractors]
    built: list[Extractor] = []
    for item in extractors:
        if isinstance(item, Extractor):
            built.append(item)
        else:
            built.extend(get_extractor(name) for name in expand_names(item))
    modalities = [e.modality for e in built]
    duplicates = {m for m in modalities if modalities.count(m) > 1}
    if duplicates:
        raise ValueError(f"two extractors write the same modality: {sorted(duplicates)}")
    return built


def extract_video(path: str | os.PathLike, extractors=("default",), *, allow_truncated: bool = False,
                  zero_missing: bool = True, batch_frames: int = 32, progress: bool = False) -> ExtractionResult:
    """Features of every extractor for the video at ``path`` from one decoding pass.

    Raises MediaError for a file that is not a decodable video. Audio extractors of a video
    without audio, or with a silent track, give zeros (``zero_missing``; False keeps what the
    extractor computed on the silence) and their modality is listed in ``missing``.
    ``progress`` shows a tqdm bar over the decoded frames.
    """
    built = build_extractors(extractors)
    info = probe(path)
    fps = info.fps
    requests = {id(e): e.request(info, fps) for e in built}
    stream = MediaStream(
        path,
        video=tuple(r for r in requests.values() if not isinstance(r, AudioRequest)),
        audio=tuple(r for r in requests.values() if isinstance(r, AudioRequest)) if info.has_audio else (),
        batch_frames=batch_frames, allow_truncated=allow_truncated, info=info,
    )
    sinks = {id(e): e.open(info, fps) for e in built if e.input == "video" or info.has_audio}
    audio_sinks: dict[AudioRequest, list] = {}
    video_sinks = []
    for e in built:
        if id(e) in sinks:
            (video_sinks if e.input == "video" else audio_sinks.setdefault(requests[id(e)], [])).append(sinks[id(e)])
    bar = _progress_bar(path, info) if progress else None
    for event in stream:
        if isinstance(event, FrameBatch):
            if bar is not None:
                bar.update(event.n)
            for sink in video_sinks:
                sink.feed(event)
        elif isinstance(event, AudioChunk):
            for sink in audio_sinks.get(event.request, ()):
                sink.feed(event)

    if bar is not None:
        bar.close()
    stats = stream.stats
    n_snippets = snippet_count(stats.n_frames)
    audio_missing = stats.audio_missing
    stored, features, specs, missing = {}, {}, {}, []
    for e in built:
        spec = e.spec()
        if e.input == "audio" and audio_missing:
            missing.append(spec.modality)
        if id(e) not in sinks or (zero_missing and e.input == "audio" and audio_missing):
            array = e.missing(n_snippets)
        else:
            array = sinks[id(e)].result(n_snippets)
            if getattr(sinks[id(e)], "missing", False):  # e.g. text: no subtitles for this video
                missing.append(spec.modality)
        stored[spec.modality] = array
        features[spec.modality] = spec.as_snippets(array, n_snippets)
        specs[spec.modality] = spec
    return ExtractionResult(
        path=str(path), fps=fps, n_frames=stats.n_frames, n_snippets=n_snippets,
        duration=stats.duration, features=features, stored=stored, specs=specs,
        missing=tuple(missing), info=info,
        warnings=([stats.error] if stats.error else [])
        + [w for e in built if id(e) in sinks for w in getattr(sinks[id(e)], "warnings", ())],
    )


def _progress_bar(path, info: MediaInfo):
    """A tqdm bar over decoded frames (``progress=True``: long inputs show how far they are)."""
    from tqdm.auto import tqdm

    total = int(info.n_frames) if getattr(info, "n_frames", None) else None
    return tqdm(total=total, desc=os.path.basename(str(path)), unit="frame", leave=False,
                dynamic_ncols=True)

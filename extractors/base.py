"""The extractor protocol and the building blocks that put features on the snippet grid.

An extractor declares what it needs from the decoder (``request``) and, per video, opens a
*sink* that receives the decoded stream (FrameBatch or AudioChunk events, in order) and at the
end returns the stored array. Three base classes cover the common shapes:

- ``FrameExtractor``: per-frame features (statistics, image backbones), pooled per snippet.
- ``ClipExtractor``: a model over 16-frame clips (I3D, 3D CNNs, VideoMAE); last clip padded.
- ``AudioExtractor``: aligned audio; subclasses pool per-audio-frame values or slice per snippet.

Snippet count. Every modality of one video has ``snippet_count(n_frames)`` rows: the video's
frames on the native-fps grid, 16 per snippet, the last partial snippet counted and
zero-padded (TSL-300's I3D clips). Audio that ends early leaves zero rows (or an explicit
missing marker when there is no usable audio); audio that runs past the last frame is cut.
"""
from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from tsl300 import timegrid
from tsl300.io import AudioChunk, AudioRequest, FrameBatch, MediaInfo, VideoRequest

from .spec import ExtractorSpec


def snippet_count(n_frames: int) -> int:
    """THE rule for the number of snippets T of a video with ``n_frames`` grid frames."""
    return timegrid.num_snippets(n_frames, pad_last=True)


def fit_rows(array: np.ndarray, rows: int, fill: float = 0.0) -> np.ndarray:
    """Cut or pad (with ``fill``) the first axis of ``array`` to exactly ``rows``."""
    if len(array) >= rows:
        return array[:rows]
    pad = np.full((rows - len(array),) + array.shape[1:], fill, dtype=array.dtype)
    return np.concatenate([array, pad])


class Sink(abc.ABC):
    """Per-video state of one extractor: fed the decoded events, then asked for the result."""

    @abc.abstractmethod
    def feed(self, event: FrameBatch | AudioChunk) -> None: ...

    @abc.abstractmethod
    def result(self, n_snippets: int) -> np.ndarray:
        """The stored array for ``n_snippets`` snippets (spec layout)."""


class Extractor(abc.ABC):
    """Base of every extractor; subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    modality: ClassVar[str] = ""
    input: ClassVar[str] = "video"

    @abc.abstractmethod
    def spec(self) -> ExtractorSpec: ...

    @abc.abstractmethod
    def request(self, info: MediaInfo, fps: float) -> VideoRequest | AudioRequest: ...

    @abc.abstractmethod
    def open(self, info: MediaInfo, fps: float) -> Sink: ...

    def missing(self, n_snippets: int) -> np.ndarray:
        """Zeros in the stored layout, for a video whose input stream is absent."""
        spec = self.spec()
        return np.zeros((spec.rows_on_disk(n_snippets),) + tuple(spec.shape[1:] if spec.layout == "flat"
                                                                 else spec.shape), np.float32)


class SnippetPooler:
    """Pools rows tagged with a snippet index (non-decreasing) into one row per snippet.

    Completed snippets are reduced as soon as a later snippet appears, so memory holds one
    snippet's rows plus the pooled output. ``reducers``: any of ``mean``, ``std``, ``max``;
    the output concatenates them in that order.
    """

    def __init__(self, reducers: tuple[str, ...] = ("mean",)):
        self.reducers = reducers
        self.pending_idx = np.zeros(0, np.int64)
        self.pending_val: np.ndarray | None = None
        self.done: dict[int, np.ndarray] = {}

    def push(self, snippet: np.ndarray, values: np.ndarray) -> None:
        if not len(snippet):
            return
        values = np.asarray(values, np.float64)
        if self.pending_val is None:
            self.pending_val = values[:0]
        idx = np.concatenate([self.pending_idx, snippet.astype(np.int64)])
        val = np.concatenate([self.pending_val, values])
        complete = idx < idx[-1]
        self._reduce(idx[complete], val[complete])
        self.pending_idx, self.pending_val = idx[~complete], val[~complete]

    def result(self, n_snippets: int, width: int) -> np.ndarray:
        if self.pending_val is not None:
            self._reduce(self.pending_idx, self.pending_val)
            self.pending_idx, self.pending_val = self.pending_idx[:0], self.pending_val[:0]
        out = np.zeros((n_snippets, width * len(self.reducers)), np.float32)
        for i, row in self.done.items():
            if 0 <= i < n_snippets:
                out[i] = row
        return out

    def _reduce(self, idx: np.ndarray, val: np.ndarray) -> None:
        if not len(idx):
            return
        keys, starts, counts = np.unique(idx, return_index=True, return_counts=True)
        parts = []
        mean = np.add.reduceat(val, starts, axis=0) / counts[:, None]
        for reducer in self.reducers:
            if reducer == "mean":
                parts.append(mean)
            elif reducer == "std":
                sq = np.add.reduceat(val * val, starts, axis=0) / counts[:, None]
                parts.append(np.sqrt(np.maximum(sq - mean * mean, 0.0)))
            elif reducer == "max":
                parts.append(np.maximum.reduceat(val, starts, axis=0))
            else:
                raise ValueError(f"unknown reducer {reducer!r}")
        rows = np.concatenate(parts, axis=1).astype(np.float32)
        for key, row in zip(keys.tolist(), rows):
            self.done[key] = row


class FrameExtractor(Extractor):
    """Per-frame features averaged (or otherwise reduced) per snippet.

    Subclasses implement ``frame_features(frames, previous) -> (n, D)`` where ``frames`` is
    uint8 (n, H, W, 3) and ``previous`` the frame before the batch (None at the start), so
    temporal differences do not depend on where batches are cut.
    """

    input = "video"
    reducers: ClassVar[tuple[str, ...]] = ("mean",)

    @abc.abstractmethod
    def frame_features(self, frames: np.ndarray, previous: np.ndarray | None) -> np.ndarray: ...

    @abc.abstractmethod
    def video_request(self) -> VideoRequest: ...

    @property
    @abc.abstractmethod
    def frame_dim(self) -> int: ...

    def request(self, info, fps):
        return self.video_request()

    def open(self, info, fps):
        return _FrameSink(self)


class _FrameSink(Sink):
    def __init__(self, extractor: FrameExtractor):
        self.extractor = extractor
        self.request = extractor.video_request()
        self.pooler = SnippetPooler(extractor.reducers)
        self.previous = None

    def feed(self, event):
        if not isinstance(event, FrameBatch):
            return
        frames = event.frames[self.request]
        values = self.extractor.frame_features(frames, self.previous)
        index = np.arange(event.start, event.start + len(frames))
        self.pooler.push(timegrid.frame_to_snippet(index), values)
        self.previous = frames[-1]

    def result(self, n_snippets):
        return self.pooler.result(n_snippets, self.extractor.frame_dim)


class ClipExtractor(Extractor):
    """A model over non-overlapping clips of ``snippet_frames`` frames (one clip = one snippet).

    Subclasses implement ``clip_features(clips) -> (B, D)`` on uint8 (B, 16, H, W, 3) clips.
    Clips are run ``clip_batch`` at a time; the last partial clip is padded with zero frames,
    as the I3D features of TSL-300.
    """

    input = "video"
    clip_batch: int = 8

    @abc.abstractmethod
    def clip_features(self, clips: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def video_request(self) -> VideoRequest: ...

    def request(self, info, fps):
        return self.video_request()

    def open(self, info, fps):
        return _ClipSink(self)


class _ClipSink(Sink):
    def __init__(self, extractor: ClipExtractor):
        self.extractor = extractor
        self.request = extractor.video_request()
        self.frames: list[np.ndarray] = []
        self.clips: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []

    def feed(self, event):
        if not isinstance(event, FrameBatch):
            return
        self.frames.extend(event.frames[self.request])
        size = timegrid.SNIPPET_FRAMES
        while len(self.frames) >= size:
            self.clips.append(np.stack(self.frames[:size]))
            del self.frames[:size]
        if len(self.clips) >= self.extractor.clip_batch:
            self._run()

    def _run(self):
        if self.clips:
            self.outputs.append(np.asarray(self.extractor.clip_features(np.stack(self.clips)), np.float32))
            self.clips = []

    def result(self, n_snippets):
        if self.frames:
            pad = [np.zeros_like(self.frames[0])] * (timegrid.SNIPPET_FRAMES - len(self.frames))
            self.clips.append(np.stack(self.frames + pad))
            self.frames = []
        self._run()
        out = np.concatenate(self.outputs) if self.outputs else np.zeros((0, self.extractor.spec().shape[0]), np.float32)
        return fit_rows(out, n_snippets)


class AudioExtractor(Extractor):
    """Base of audio extractors: one aligned mono stream at ``sample_rate``."""

    input = "audio"
    sample_rate: int = 16000

    def request(self, info, fps):
        return AudioRequest(sample_rate=self.sample_rate, channels=1, aligned=True)


def snippet_sample_bounds(first: int, last: int, fps: float, sample_rate: int) -> np.ndarray:
    """Sample index where snippets ``first .. last`` start (``last`` exclusive end bound)."""
    index = np.arange(first, last + 1)
    return np.round(timegrid.snippet_start(index, fps) * sample_rate).astype(np.int64)


class AudioSnippetExtractor(AudioExtractor):
    """Audio models run on each snippet's own samples (wav2vec2, AST, CLAP...).

    Subclasses implement ``snippet_features(windows) -> (B, D)`` where ``windows`` is a list of
    1-D float32 arrays, one per snippet (lengths differ by a sample at most).
    """

    snippet_batch: int = 16

    @abc.abstractmethod
    def snippet_features(self, windows: list[np.ndarray]) -> np.ndarray: ...

    def open(self, info, fps):
        return _AudioSnippetSink(self, fps)


class _AudioSnippetSink(Sink):
    def __init__(self, extractor: AudioSnippetExtractor, fps: float):
        self.extractor, self.fps = extractor, fps
        self.buffer = np.zeros(0, np.float32)
        self.buffer_start = 0
        self.next_snippet = 0
        self.windows: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []

    def feed(self, event):
        if not isinstance(event, AudioChunk):
            return
        self.buffer = np.concatenate([self.buffer, event.samples[0]])
        self._cut(final=False)

    def _cut(self, final: bool):
        sr = self.extractor.sample_rate
        end_sample = self.buffer_start + len(self.buffer)
        while True:
            start, stop = snippet_sample_bounds(self.next_snippet, self.next_snippet + 1, self.fps, sr)
            if stop > end_sample and not (final and start < end_sample):
                break
            window = self.buffer[start - self.buffer_start: stop - self.buffer_start]
            self.windows.append(np.pad(window, (0, (stop - start) - len(window))))
            self.next_snippet += 1
            self.buffer = self.buffer[stop - self.buffer_start:]
            self.buffer_start = stop
            if len(self.windows) >= self.extractor.snippet_batch:
                self._run()
        if final:
            self._run()

    def _run(self):
        if self.windows:
            self.outputs.append(np.asarray(self.extractor.snippet_features(self.windows), np.float32))
            self.windows = []

    def result(self, n_snippets):
        self._cut(final=True)
        width = self.extractor.spec().shape[0]
        out = np.concatenate(self.outputs) if self.outputs else np.zeros((0, width), np.float32)
        return fit_rows(out, n_snippets)

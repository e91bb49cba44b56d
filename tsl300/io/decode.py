"""Streamed decoding with PyAV: frames on a constant-fps grid and audio on the same clock.

One pass over the file feeds every consumer, and memory stays flat in the video length:
frames are resized as they are decoded and handed out in small batches, audio in chunks of
about a second.

Time grid. Frame ``j`` of the output is the picture shown at ``video_start + j / fps``: each
decoded frame goes to grid index ``round((pts_time - video_start) * fps)``; gaps (variable frame
rate, dropped frames) repeat the previous picture and frames that land on an index already
filled (duplicates, timestamps that jump back, a target fps below the native one) are
dropped, like ffmpeg's ``fps`` filter.

Timestamp jumps. A forward jump of more than :data:`MAX_TIMESTAMP_GAP_S` between two pictures
(a broken muxer, a spliced stream: 600 s or 10 hours in a 200 kB file) is a discontinuity, not
minutes of a frozen picture: the grid continues one frame later, as ffmpeg does for formats
with timestamp discontinuities, and a warning names it. The work is bounded by what the file
holds, never by what its timestamps claim.

Audio clock. A file without a picture (``MediaInfo.clock == "audio"``) yields only audio
chunks; its grid length comes from the sound (``DecodeStats.n_frames`` at ``AUDIO_CLOCK_FPS``).

Truncated files. A file whose decodable video stops well before the duration its header
declares (a download cut short) raises MediaError by default, since features of the first few
seconds silently standing in for the whole video would be a wrong result; ``allow_truncated``
returns the decodable part with a warning instead.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import MediaError
from ._container import _reason, open_container
from .probe import MediaInfo, probe
from .requests import AudioRequest, VideoRequest

SILENCE_PEAK = 1e-4
"""Peak amplitude (-80 dBFS) below which an audio track counts as silent, i.e. missing."""

TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE_FRACTION = 0.05
MAX_TIMESTAMP_GAP_S = 10.0
"""A forward jump between two pictures longer than this is a timestamp discontinuity."""


@dataclass
class FrameBatch:
    """Consecutive grid frames ``start .. start + n - 1``, one uint8 (n, H, W, 3) array per request."""

    start: int
    frames: dict[VideoRequest, np.ndarray]

    @property
    def n(self) -> int:
        return len(next(iter(self.frames.values())))


@dataclass
class AudioChunk:
    """Samples ``start .. start + n - 1`` (at the request's rate) as float32 (channels, n)."""

    request: AudioRequest
    start: int
    samples: np.ndarray
    sample_rate: int


@dataclass
class DecodeStats:
    """What a finished pass found: frames on the grid, whether the audio is usable, problems."""

    fps: float
    n_frames: int = 0
    audio_samples: dict[AudioRequest, int] = field(default_factory=dict)
    audio_peak: float = 0.0
    has_audio: bool = False
    error: str | None = None
    truncated: bool = False
    skipped_s: float = 0.0       # seconds of timestamp jumps collapsed (see MAX_TIMESTAMP_GAP_S)
    end_s: float = 0.0           # seconds of sound held in the chosen audio stream's packets

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def audio_missing(self) -> bool:
        """True when there is no audio stream or it never rises above -80 dBFS."""
        return not self.has_audio or self.audio_peak < SILENCE_PEAK


class MediaStream:
    """Iterate once over a file, yielding FrameBatch and AudioChunk events in file order.

    After iteration ``stats`` holds the frame count, audio peak and any problem.
    """

    def __init__(self, path: str | os.PathLike, video: tuple[VideoRequest, ...] = (),
                 audio: tuple[AudioRequest, ...] = (), fps: float | None = None,
                 batch_frames: int = 32, audio_chunk_seconds: float = 1.0,
                 allow_truncated: bool = False, info: MediaInfo | None = None):
        self.path = str(path)
        self.info = info or probe(path)
        self.video_requests = tuple(dict.fromkeys(video))
        self.audio_requests = tuple(dict.fromkeys(audio))
        self.fps = float(fps or self.info.fps)
        self.batch_frames = batch_frames
        self.audio_chunk_seconds = audio_chunk_seconds
        self.allow_truncated = allow_truncated
        self.stats = DecodeStats(fps=self.fps, has_audio=self.info.has_audio)

    def __iter__(self) -> Iterator[FrameBatch | AudioChunk]:
        with open_container(self.path) as container:
            by_index = {s.index: s for s in container.streams}
            vstream = by_index.get(self.info.video_index) if self.info.has_video else None
            astream = by_index.get(self.info.audio_index) if self.info.audio_index is not None else None
            if vstream is not None:
                vstream.thread_type = "AUTO"
            video = _VideoGrid(self, vstream) if vstream is not None else None
            tracks = [_AudioTrack(self, r, astream) for r in self.audio_requests] if astream is not None else []
            streams = [s for s in (vstream, astream) if s is not None]
            try:
                for packet in container.demux(streams):
                    self._note_end(packet)
                    if packet.stream is vstream:
                        for frame in self._decode(packet):
                            yield from video.push(frame)
                    elif tracks:
                        for frame in self._decode(packet):
                            for track in tracks:
                                yield from track.push(frame)
            except av.FFmpegError as exc:  # the container itself broke off (cut download)
                self.stats.error = _reason(exc)
            if video is not None:
                yield from video.flush()
            for track in tracks:
                yield from track.flush()
        if video is None:  # audio clock: the grid spans the sound
            self.stats.n_frames = max(1, int(round(self.stats.end_s * self.fps))) if self.stats.end_s > 0 else 0
        self._check_complete()

    def _note_end(self, packet) -> None:
        """Add up the sound the file holds (packet durations, not timestamps, which can jump)."""
        if packet.stream.type == "audio" and packet.duration and packet.time_base is not None:
            self.stats.end_s += float(packet.duration * packet.time_base)

    def _decode(self, packet) -> list:
        """Decoded frames of one packet; a corrupt packet is skipped and remembered."""
        try:
            return packet.decode()
        except av.FFmpegError as exc:
            self.stats.error = _reason(exc)
            return []

    def _check_complete(self) -> None:
        stats, info = self.stats, self.info
        if stats.n_frames == 0:
            extra = f" ({stats.error})" if stats.error else ""
            what = "no video frame" if info.has_video else "no audio"
            raise MediaError(f"{self.path}: {what} could be decoded{extra}")
        declared = info.duration - stats.skipped_s
        # a stream outlasting the picture (MKV audio after the video ends) is not truncation:
        # only a file where every stream stops early is cut short
        reached = max(stats.duration, stats.end_s)
        missing = declared - reached
        if declared > 0 and missing > max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * declared):
            stats.truncated = True
            message = (f"{self.path}: truncated or corrupt: only {stats.duration:.2f} s of the "
                       f"{declared:.2f} s declared in its header could be decoded"
                       + (f" ({stats.error})" if stats.error else ""))
            if not self.allow_truncated:
                raise MediaError(message)
            warnings.warn(message + "; using the decodable part", stacklevel=2)


class _VideoGrid:
    """Places decoded frames on the constant-fps grid and batches them per request."""

    def __init__(self, owner: MediaStream, stream):
        self.owner = owner
        self.t0 = owner.info.video_start
        self.next_index = 0
        self.previous: dict[VideoRequest, np.ndarray] | None = None
        self.pending: list[dict[VideoRequest, np.ndarray]] = []
        self.pending_start = 0
        self.reformatters: dict[VideoRequest, VideoReformatter] = {}

    def _reformatter(self, request: VideoRequest) -> VideoReformatter:
        """One swscale context per request, reused for every frame (6x faster than per frame)."""
        if request not in self.reformatters:
            self.reformatters[request] = VideoReformatter()
        return self.reformatters[request]

    def push(self, frame) -> Iterator[FrameBatch]:
        fps = self.owner.fps
        index = self.next_index if frame.time is None else int(round((frame.time - self.t0) * fps))
        if index < self.next_index:
            return
        if index - self.next_index > MAX_TIMESTAMP_GAP_S * fps:  # a discontinuity: continue the grid
            jump = (index - self.next_index) / fps
            self.t0 += jump
            self.owner.stats.skipped_s += jump
            warnings.warn(f"{self.owner.path}: timestamps jump forward by {jump:.1f} s at "
                          f"{self.next_index / fps:.2f} s; treated as a discontinuity", stacklevel=2)
            index = self.next_index
        pictures = self._convert(frame)
        fill = self.previous if self.previous is not None else pictures
        for _ in range(self.next_index, index):   # a gap: repeat the last picture, batch by batch
            self.pending.append(fill)
            if len(self.pending) >= self.owner.batch_frames:
                yield from self.flush()
        self.pending.append(pictures)
        self.previous = pictures
        self.next_index = index + 1
        self.owner.stats.n_frames = self.next_index
        if len(self.pending) >= self.owner.batch_frames:
            yield from self.flush()

    def flush(self) -> Iterator[FrameBatch]:
        if not self.pending:
            return
        batch = FrameBatch(
            start=self.pending_start,
            frames={r: np.stack([p[r] for p in self.pending]) for r in self.owner.video_requests},
        )
        self.pending_start += len(self.pending)
        self.pending = []
        if batch.frames:
            yield batch

    def _convert(self, frame) -> dict[VideoRequest, np.ndarray]:
        # phone clips store a display matrix (rotation side data); apply it as players and
        # ffmpeg do, so features see the picture upright. Sizes refer to the upright picture.
        turns = _quarter_turns(frame)
        upright = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        out = {}
        for request in self.owner.video_requests:
            width, height = request.output_size(*upright)
            if turns % 2:
                width, height = height, width
            image = self._reformatter(request).reformat(frame, width=width, height=height, format="rgb24",
                                                        interpolation=request.interpolation).to_ndarray()
            out[request] = np.ascontiguousarray(np.rot90(image, turns)) if turns else image
        return out


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that make ``frame`` upright (0 without a display matrix)."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return int(round(degrees / 90.0)) % 4


class _AudioTrack:
    """Downmixes/resamples one audio request, aligns it to the video clock, emits ~1 s chunks."""

    def __init__(self, owner: MediaStream, request: AudioRequest, stream):
        self.owner = owner
        self.request = request
        channels = min(request.channels, stream.channels or 1)
        self.rate = request.sample_rate or stream.rate
        self.resampler = av.AudioResampler(format="fltp", layout="mono" if channels == 1 else "stereo",
                                           rate=self.rate)
        self.channels = channels
        self.offset: int | None = None if request.aligned else 0
        self.position = 0
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.chunk = max(1, int(owner.audio_chunk_seconds * self.rate))

    def push(self, frame) -> Iterator[AudioChunk]:
        if self.offset is None:
            start = frame.time if frame.time is not None else self.owner.info.video_start
            self.offset = int(round((start - self.owner.info.video_start) * self.rate))
            if self.offset > 0:
                self._append(np.zeros((self.channels, self.offset), np.float32))
        frame.pts = None
        for out in self.resampler.resample(frame):
            self._append(out.to_ndarray())
        if self.buffered >= self.chunk:
            yield self._emit()

    def flush(self) -> Iterator[AudioChunk]:
        for out in self.resampler.resample(None):
            self._append(out.to_ndarray())
        if self.buffered:
            yield self._emit()

    def _append(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if self.offset is not None and self.offset < 0:
            drop = min(-self.offset, samples.shape[1])
            samples = samples[:, drop:]
            self.offset += drop
        if samples.shape[1]:
            self.buffer.append(samples)
            self.buffered += samples.shape[1]

    def _emit(self) -> AudioChunk:
        samples = np.concatenate(self.buffer, axis=1) if len(self.buffer) > 1 else self.buffer[0]
        chunk = AudioChunk(self.request, self.position, samples, self.rate)
        self.position += samples.shape[1]
        self.buffer, self.buffered = [], 0
        stats = self.owner.stats
        stats.audio_samples[self.request] = self.position
        if samples.size:
            stats.audio_peak = max(stats.audio_peak, float(np.abs(samples).max()))
        return chunk

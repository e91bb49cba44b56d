"""What a media file holds (streams, frame rate, duration), read from the container header.

Nothing is decoded here, so probing is instant; whether the audio is silent and how many
frames actually decode are only known after a pass (see ``DecodeStats``).
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import MediaError
from ._container import open_container


@dataclass(frozen=True)
class MediaInfo:
    """Header facts about one file. ``fps`` is the stream's average frame rate (ffprobe's
    ``avg_frame_rate``, the rate TSL-300's features assume); ``n_frames`` is the frame count on
    the constant-fps grid implied by the header (exact count comes from decoding)."""

    path: str
    duration: float
    fps: float | None
    n_frames: int | None
    width: int | None
    height: int | None
    video_start: float
    video_codec: str | None
    has_audio: bool
    audio_rate: int | None
    audio_channels: int | None
    audio_codec: str | None

    @property
    def has_video(self) -> bool:
        return self.fps is not None

    def to_dict(self) -> dict:
        return asdict(self)


def probe(path: str | os.PathLike, require_video: bool = True) -> MediaInfo:
    """Read stream facts of ``path``; MediaError when unreadable or (``require_video``) audio-only."""
    with open_container(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = _duration(container, video or audio)
        fps = _fps(video) if video is not None else None
        if require_video and (video is None or fps is None):
            what = "no video stream (audio only)" if video is None else "no usable frame rate"
            raise MediaError(f"{path}: {what}; a video file is needed to place features in time")
        start = 0.0
        if video is not None and video.start_time is not None:
            start = float(video.start_time * video.time_base)
        n_frames = None
        if fps is not None:
            n_frames = video.frames or int(round(duration * fps))
        return MediaInfo(
            path=str(Path(path)),
            duration=duration,
            fps=fps,
            n_frames=n_frames,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            video_start=start,
            video_codec=video.codec_context.name if video is not None else None,
            has_audio=audio is not None,
            audio_rate=audio.rate if audio is not None else None,
            audio_channels=audio.channels if audio is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


def _fps(video) -> float | None:
    for rate in (video.average_rate, video.guessed_rate, video.base_rate):
        if rate is not None and rate > 0 and math.isfinite(float(rate)) and float(rate) < 1000:
            return float(rate)
    return None


def _duration(container, stream) -> float:
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0

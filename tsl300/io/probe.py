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
from .streams import best_audio, best_video, has_still_image_only

AUDIO_CLOCK_FPS = 30.0
"""Frame rate of the time grid of a file without a picture (an audio file, a video whose only
picture is cover art): snippets of 16 / 30 s, the most common rate of TSL-300's videos."""


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
    clock: str = "video"
    video_index: int | None = None
    audio_index: int | None = None

    @property
    def has_video(self) -> bool:
        return self.clock == "video"

    @property
    def streams(self) -> dict:
        """The chosen stream indexes, as written into a result's metadata."""
        return {"video": self.video_index, "audio": self.audio_index}

    def to_dict(self) -> dict:
        return asdict(self)


def probe(path: str | os.PathLike, require_video: bool = True) -> MediaInfo:
    """Read stream facts of ``path``; MediaError when unreadable or (``require_video``) without
    a picture. With ``require_video=False`` a file with sound but no picture runs on the audio
    clock; a still image (PNG, JPEG) is never a video."""
    with open_container(path) as container:
        video, audio = best_video(container), best_audio(container)
        still = has_still_image_only(container)
        fps = _fps(video) if video is not None else None
        if video is None and audio is None or (require_video and (video is None or fps is None)):
            if still and audio is None:
                raise MediaError(f"{path}: a still image, not a video or audio file")
            what = "no video stream (audio only)" if video is None else "no usable frame rate"
            raise MediaError(f"{path}: {what}; a video file is needed to place features in time")
        clock = "video" if video is not None and fps is not None else "audio"
        lead = video if clock == "video" else audio
        duration = _duration(container, lead)
        start = 0.0
        if lead.start_time is not None:
            start = float(lead.start_time * lead.time_base)
        if clock == "audio":
            fps = AUDIO_CLOCK_FPS
            n_frames = int(round(duration * fps))
        else:
            n_frames = video.frames or int(round(duration * fps))
        return MediaInfo(
            path=str(Path(path)),
            duration=duration,
            fps=fps,
            n_frames=n_frames,
            width=video.codec_context.width if clock == "video" else None,
            height=video.codec_context.height if clock == "video" else None,
            video_start=start,
            video_codec=video.codec_context.name if clock == "video" else None,
            has_audio=audio is not None,
            audio_rate=audio.rate if audio is not None else None,
            audio_channels=audio.channels if audio is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            clock=clock,
            video_index=video.index if clock == "video" else None,
            audio_index=audio.index if audio is not None else None,
        )


def _fps(video) -> float | None:
    """The average rate (ffprobe's ``avg_frame_rate``, as TSL-300), unless it is under half the
    stream's nominal rate: then timestamp jumps have diluted it (50 frames "over" 602 s) and the
    nominal rate is the one the pictures were made at."""
    def usable(rate) -> float | None:
        value = float(rate) if rate is not None else 0.0
        return value if 0 < value < 1000 and math.isfinite(value) else None

    average = usable(video.average_rate)
    nominal = usable(video.guessed_rate) or usable(video.base_rate)
    if average is not None and (nominal is None or average >= 0.5 * nominal):
        return average
    return nominal


def _duration(container, stream) -> float:
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0

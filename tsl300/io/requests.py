"""What a consumer asks the decoder for: frame size and rate, audio rate and channels.

Requests are hashable so several extractors asking for the same thing share one conversion.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoRequest:
    """RGB frames resized on decode.

    Give ``width`` and ``height`` for a fixed size, ``height`` alone (or ``width`` alone) to keep
    the aspect ratio as ffmpeg's ``scale=-1:H`` (TSL-300 used ``scale=-1:240``), or
    ``short_side`` to scale the shorter side. Nothing given keeps the native size.
    """

    width: int | None = None
    height: int | None = None
    short_side: int | None = None
    interpolation: str | None = None
    """PyAV/swscale interpolation name (``BILINEAR``, ``BICUBIC``...); None = PyAV's default."""

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the frames delivered for a source of ``width`` x ``height``."""
        if self.width and self.height:
            return self.width, self.height
        if self.short_side:
            scale = self.short_side / min(width, height)
            return max(1, round(width * scale)), max(1, round(height * scale))
        if self.height:
            return max(1, round(width * self.height / height)), self.height
        if self.width:
            return self.width, max(1, round(height * self.width / width))
        return width, height


@dataclass(frozen=True)
class AudioRequest:
    """Float32 audio at ``sample_rate`` (None = the stream's rate) with ``channels`` (1 = mono
    downmix, 2 = stereo or fewer if the source has fewer).

    ``aligned=True`` puts sample 0 at the first video frame's time (zeros fill a late audio
    start, early samples are dropped), so audio and frames share one clock. ``aligned=False``
    starts at the first audio sample, as ``ffmpeg -i video audio.mp3`` does (TSL-300 recipe).
    """

    sample_rate: int | None = None
    channels: int = 1
    aligned: bool = True

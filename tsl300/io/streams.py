"""Which streams of a file are "the" picture and "the" sound, as a player would choose them.

Files with several streams are common (a camera's preview track, commentary, a cover image);
taking the first of each kind silently used a black preview and a silent track where the real
picture and speech came later. The choice follows FFmpeg's idea of the best stream, with the
weights in this order:

- video: never a still image (cover art, an ``attached_pic``, an image codec); the largest
  picture (width x height), then the stream marked default, then the longest;
- audio: the most channels, then the longest, then the stream marked default.

MP4 muxers mark the *first* stream of each kind as default, decoys included, so the default
flag only breaks ties. The chosen indexes go into ``LocalizationResult.metadata.streams``.
"""
from __future__ import annotations

import av

STILL_IMAGE_CODECS = frozenset({"png", "apng", "mjpeg", "jpegls", "bmp", "gif", "tiff", "webp", "ppm", "pgm",
                                "pgmyuv", "pbm", "pam", "sgi", "targa", "jpeg2000", "qoi", "xbm", "xwd",
                                "pcx", "dpx", "exr", "hdr", "pix", "sunrast", "photocd", "jpegxl"})
"""Codecs of single pictures; in an image container (``image2``, ``*_pipe``) they are not video."""


def is_image_container(container) -> bool:
    """A picture file (PNG, JPEG, ...) that FFmpeg opens as a one-frame "video"."""
    names = set(container.format.name.split(","))
    return "image2" in names or any(n.endswith("_pipe") for n in names)


def _is_still(stream, image_container: bool) -> bool:
    attached = bool(stream.disposition & av.stream.Disposition.attached_pic)
    return attached or (image_container and stream.codec_context.name in STILL_IMAGE_CODECS)


def _seconds(stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def _is_default(stream) -> int:
    return int(bool(stream.disposition & av.stream.Disposition.default))


def best_video(container):
    """The picture stream to use, or None (no video, or only still images)."""
    image = is_image_container(container)
    candidates = [s for s in container.streams.video if not _is_still(s, image)]
    if not candidates:
        return None
    return max(candidates, key=lambda s: ((s.codec_context.width or 0) * (s.codec_context.height or 0),
                                          _is_default(s), _seconds(s), -s.index))


def best_audio(container):
    """The sound stream to use, or None."""
    candidates = list(container.streams.audio)
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.codec_context.channels or 0, _seconds(s), _is_default(s), -s.index))


def has_still_image_only(container) -> bool:
    """Video streams exist but every one is a still image (a PNG, or a cover picture only)."""
    return bool(container.streams.video) and best_video(container) is None

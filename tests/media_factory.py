"""Tiny media files for the reliability tests, encoded with PyAV (no ffmpeg binary needed).

Each helper writes one file and returns its path. Pictures are flat colours that change
over time and sound is a tone (or silence), so files stay a few kB and encode in well under
a second. The layouts mirror what the issue reports found in the wild: MKV whose audio
outlasts its picture, several streams with decoys first, timestamp jumps, audio-only files.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25
RATE = 16000


def _picture(i: int, width: int, height: int, black: bool = False) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    if not black:
        image[...] = ((i * 7) % 256, (i * 3 + 80) % 256, 160)
    return image


def _tone(n: int, start: int, channels: int, silent: bool = False, rate: int = RATE) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    wave = np.zeros(n) if silent else 0.3 * np.sin(2 * np.pi * 220 * t)
    return np.tile(wave.astype(np.float32), (channels, 1))


def _add_video(container, width: int, height: int, codec: str = "mpeg4"):
    stream = container.add_stream(codec, rate=FPS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    return stream


def _add_audio(container, channels: int, codec: str = "aac", rate: int = RATE):
    stream = container.add_stream(codec, rate=rate)
    stream.layout = "mono" if channels == 1 else "stereo"
    return stream


def _encode_video(container, stream, n_frames: int, black: bool = False, pts_jump_at: int | None = None,
                  jump_frames: int = 0) -> None:
    for i in range(n_frames):
        frame = av.VideoFrame.from_ndarray(_picture(i, stream.width, stream.height, black), format="rgb24")
        frame.pts = i + (jump_frames if pts_jump_at is not None and i >= pts_jump_at else 0)
        frame.time_base = Fraction(1, FPS)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def fmt_dtype(fmt: str):
    return {"flt": np.float32, "dbl": np.float64, "s16": np.int16, "s32": np.int32}[fmt.rstrip("p")]


def _encode_audio(container, stream, seconds: float, silent: bool = False) -> None:
    """A tone (or silence) of ``seconds``, in the encoder's sample format and frame size."""
    rate, channels = stream.rate, stream.codec_context.channels
    fmt = stream.codec_context.format.name
    dtype = fmt_dtype(fmt)
    frame_size = stream.codec_context.frame_size or 1024
    total, done = int(seconds * rate), 0
    while done < total:
        n = min(frame_size, total - done)
        samples = _tone(n, done, channels, silent, rate)
        if np.issubdtype(dtype, np.integer):
            samples = samples * np.iinfo(dtype).max
        data = samples.astype(dtype) if fmt.endswith("p") else samples.T.reshape(1, -1).astype(dtype)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=stream.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = rate, done, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
        done += n
    for packet in stream.encode():
        container.mux(packet)


def av_file(path: Path, video_s: float = 2.0, audio_s: float | None = 2.0, size=(64, 48)) -> Path:
    """A plain video (mpeg4 + aac) of ``video_s`` seconds with a tone of ``audio_s`` seconds."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        v = _add_video(out, *size)
        a = _add_audio(out, 1) if audio_s else None
        _encode_video(out, v, int(video_s * FPS))
        if a is not None:
            _encode_audio(out, a, audio_s)
    return path


def decoys_first(path: Path, seconds: float = 2.0) -> Path:
    """A black 64x48 picture and a silent mono track first, then the real 160x120 picture and a
    stereo tone (all streams equally long): the first streams are the wrong ones."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        decoy_v = _add_video(out, 64, 48)
        decoy_a = _add_audio(out, 1)
        real_v = _add_video(out, 160, 120)
        real_a = _add_audio(out, 2)
        _encode_video(out, decoy_v, int(seconds * FPS), black=True)
        _encode_video(out, real_v, int(seconds * FPS))
        _encode_audio(out, decoy_a, seconds, silent=True)
        _encode_audio(out, real_a, seconds)
    return path


def timestamp_jump(path: Path, jump_s: float, frames: int = 50, at: int = 25) -> Path:
    """``frames`` pictures whose timestamps jump forward by ``jump_s`` seconds at frame ``at``
    (no audio), e.g. 2 s of content declaring 600 s more."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        v = _add_video(out, 64, 48)
        _encode_video(out, v, frames, pts_jump_at=at, jump_frames=int(round(jump_s * FPS)))
    return path


def audio_file(path: Path, seconds: float = 2.0, channels: int = 1) -> Path:
    """An audio-only file; the container and codec follow the suffix (wav, mp3, flac, m4a, ogg)."""
    path = Path(path)
    codec = {".wav": "pcm_s16le", ".mp3": "libmp3lame", ".flac": "flac", ".m4a": "aac", ".ogg": "libopus",
             ".mka": "aac"}[path.suffix.lower()]
    fmt = {".m4a": "mp4", ".ogg": "ogg"}.get(path.suffix.lower())
    with av.open(str(path), "w", format=fmt) as out:
        a = _add_audio(out, channels, codec, rate=48000 if codec == "libopus" else RATE)
        _encode_audio(out, a, seconds)
    return path


def png_image(path: Path) -> Path:
    """A single PNG picture (FFmpeg opens it as a one-frame 'video')."""
    path = Path(path)
    with av.open(str(path), "w", format="image2") as out:
        v = out.add_stream("png", rate=1)
        v.width, v.height, v.pix_fmt = 64, 48, "rgb24"
        frame = av.VideoFrame.from_ndarray(_picture(3, 64, 48), format="rgb24")
        for packet in v.encode(frame):
            out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    return path


def audio_with_cover(path: Path, seconds: float = 2.0) -> Path:
    """An MP3 with a cover picture (a PNG video stream marked ``attached_pic``), as music files have."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        a = _add_audio(out, 1, "libmp3lame")
        v = out.add_stream("png", rate=1)
        v.width, v.height, v.pix_fmt = 64, 48, "rgb24"
        v.disposition = av.stream.Disposition.attached_pic
        for packet in v.encode(av.VideoFrame.from_ndarray(_picture(5, 64, 48), format="rgb24")):
            out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        _encode_audio(out, a, seconds)
    return path

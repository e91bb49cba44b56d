"""Write small videos with known content (colour schedule, tone intervals) with PyAV.

Used by tests and demos to check that features light up exactly where the content changes:
the frame at time ``t`` is filled with ``colour(t)`` and the soundtrack holds a sine tone inside
each ``(start, end, frequency)`` interval and silence (or faint noise) elsewhere.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import av
import numpy as np

from ._container import open_local


def write_video(path: str | Path, duration: float, fps: int = 25, size: tuple[int, int] = (64, 48),
                colour: Callable[[float], Sequence[int]] = lambda t: (128, 128, 128),
                tones: Sequence[tuple[float, float, float]] = (), audio: bool = True,
                sample_rate: int = 16000, channels: int = 1, noise: float = 0.0,
                frame_times: Sequence[float] | None = None, seed: int = 0) -> Path:
    """Write an H.264/AAC mp4 (or whatever ``path``'s suffix implies) and return its path.

    ``frame_times`` gives explicit presentation times (variable frame rate); by default frames
    are at ``k / fps``. Tones are ``(start_s, end_s, hz)`` at amplitude 0.5.
    """
    path = Path(path)
    times = np.asarray(frame_times if frame_times is not None else np.arange(int(round(duration * fps))) / fps)
    width, height = size
    with open_local(path, "w") as container:
        vstream = container.add_stream("libx264" if path.suffix in (".mp4", ".mkv", ".mov") else "mpeg4",
                                       rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.time_base = Fraction(1, 1000 * fps)
        vstream.codec_context.options = {"preset": "ultrafast", "crf": "18"} if "264" in vstream.name else {}
        astream = None
        if audio:
            astream = container.add_stream("aac", rate=sample_rate, layout="mono" if channels == 1 else "stereo")
        for t in times:
            image = np.empty((height, width, 3), np.uint8)
            image[:] = np.asarray(colour(float(t)), np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = int(round(t * 1000 * fps))
            frame.time_base = vstream.time_base
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
        if astream is not None:
            signal = tone_signal(duration, sample_rate, tones, noise, seed)
            samples = np.repeat(signal[None], channels, axis=0)
            block = 1024
            for start in range(0, samples.shape[1], block):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + block]),
                                                   format="fltp", layout=astream.layout.name)
                frame.rate, frame.pts = sample_rate, start
                frame.time_base = Fraction(1, sample_rate)
                for packet in astream.encode(frame):
                    container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    return path


def tone_signal(duration: float, sample_rate: int, tones: Sequence[tuple[float, float, float]],
                noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Float32 mono signal: sine tones (amplitude 0.5) in their intervals plus optional noise."""
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    signal = np.zeros(n, np.float32)
    for start, end, hz in tones:
        inside = (t >= start) & (t < end)
        signal[inside] += 0.5 * np.sin(2 * np.pi * hz * t[inside]).astype(np.float32)
    if noise:
        signal += np.random.default_rng(seed).normal(0, noise, n).astype(np.float32)
    return signal

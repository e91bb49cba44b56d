"""Media decoding with PyAV: probing, and one streamed pass giving frames and audio on one clock.

>>> info = probe("talk.mp4")                                # doctest: +SKIP
>>> stream = MediaStream("talk.mp4", video=(VideoRequest(short_side=128),),
...                      audio=(AudioRequest(sample_rate=16000),))   # doctest: +SKIP
>>> for event in stream: ...                                # FrameBatch / AudioChunk
>>> stream.stats.n_frames, stream.stats.audio_missing       # doctest: +SKIP
"""
from ._container import open_local
from .decode import SILENCE_PEAK, AudioChunk, DecodeStats, FrameBatch, MediaStream
from .probe import MediaInfo, probe
from .requests import AudioRequest, VideoRequest

__all__ = [
    "SILENCE_PEAK", "AudioChunk", "AudioRequest", "DecodeStats", "FrameBatch", "MediaInfo",
    "MediaStream", "VideoRequest", "open_local", "probe",
]

"""``logmel_tsl300``: TSL-300's audio features (the ``logmfcc`` arrays), made the official way.

The official scripts (``1_video2mp3.py``, ``2_mp3audio2mfcc.py``) ran ``ffmpeg -i VIDEO
AUDIO.mp3`` (libmp3lame defaults), then ``librosa.load(mp3, sr=SR)`` with

    SR = int(fps / 19.916666666666668 * 44100 / 4.323882352941176 * 4 / 1.9992360580595874 * 2)

(about 2049 x fps: two mel frames per video frame, 32 per 16-frame snippet), then
``melspectrogram(n_fft=2048, hop_length=1024, n_mels=60)`` and ``power_to_db`` (ref 1,
top_db 80), transposed to (frames, 60). This module repeats every step in one stream: the
audio (first sample first, not shifted to the video clock, as ffmpeg's mp3 output) is
encoded to mp3 with PyAV's libmp3lame at its default settings and decoded straight back,
downmixed to mono as librosa does, resampled to SR with soxr HQ (librosa's default
resampler) and turned into mel frames in dB as it arrives; only ``power_to_db``'s 80 dB floor
needs the whole file, and it is applied in place at the end.

Stored layout: ``flat`` (N, 60) with N >= 32 T; when the official count (1 + samples // 1024)
falls short of 32 T (T counts the zero-padded last snippet) the rows are padded with the
array's floor value (its quietest level, -100 dB for digital silence).
"""
from __future__ import annotations

from fractions import Fraction

import av
import librosa
import numpy as np
import scipy.signal
import soxr

from tsl300 import timegrid
from tsl300.io import AudioChunk, AudioRequest

from .base import Extractor, Sink
from .registry import register_extractor
from .spec import ExtractorSpec

N_FFT = 2048
HOP = 1024
N_MELS = 60
TOP_DB = 80.0
MP3_ENCODER = "libmp3lame"
SR_FORMULA = "int(fps / 19.916666666666668 * 44100 / 4.323882352941176 * 4 / 1.9992360580595874 * 2)"


def tsl300_sample_rate(fps: float) -> int:
    """The official librosa load rate for a video of ``fps`` (about 2049 x fps)."""
    return int(fps / 19.916666666666668 * 44100 / 4.323882352941176 * 4 / 1.9992360580595874 * 2)


def mp3_rate(source_rate: int) -> int:
    """The rate ffmpeg's mp3 output gets: the source rate, or the closest one LAME supports."""
    rates = av.codec.Codec(MP3_ENCODER, "w").audio_rates
    return min(rates, key=lambda r: (abs(r - source_rate), -r))


class Mp3RoundTrip:
    """Encodes float audio to mp3 and decodes it back, chunk by chunk, in memory.

    LAME's start padding and end padding are carried as packet side data and dropped by the
    decoder, so output sample ``i`` lines up with input sample ``i`` as in an mp3 file.
    """

    def __init__(self, rate: int, channels: int):
        self.layout = "mono" if channels == 1 else "stereo"
        self.rate = rate
        self.encoder = av.CodecContext.create(MP3_ENCODER, "w")
        self.encoder.rate = rate
        self.encoder.layout = self.layout
        self.encoder.format = "fltp"
        self.encoder.time_base = Fraction(1, rate)
        self.encoder.open()
        self.decoder = av.CodecContext.create("mp3float", "r")   # float output, as librosa reads mp3
        self.position = 0

    def push(self, samples: np.ndarray | None) -> list[np.ndarray]:
        """Encode (channels, n) float32 samples (None flushes); return decoded (channels, m) blocks."""
        if samples is None:
            frame = None
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32),
                                               format="fltp", layout=self.layout)
            frame.rate, frame.pts, frame.time_base = self.rate, self.position, Fraction(1, self.rate)
            self.position += samples.shape[1]
        out = []
        for packet in self.encoder.encode(frame):
            out.extend(f.to_ndarray() for f in self.decoder.decode(packet))
        if samples is None:
            out.extend(f.to_ndarray() for f in self.decoder.decode(None))
        return [np.asarray(o, np.float32) for o in out]


class StreamingMel:
    """librosa ``melspectrogram(center=True, pad_mode='constant')`` + ``power_to_db`` on a stream.

    Frames are converted to dB as they arrive (``10 log10(max(S, 1e-10))``, ref 1) into one
    preallocated array sized from the header duration, so the only thing that grows is the
    output itself; the 80 dB floor below the global maximum is applied in place at the end.
    """

    def __init__(self, sample_rate: int, expected_rows: int = 1024):
        self.window = scipy.signal.get_window("hann", N_FFT, fftbins=True).astype(np.float32)
        self.filters = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=N_MELS)
        self.buffer = np.zeros(N_FFT // 2, np.float32)      # centre padding with zeros
        self.total = 0
        self.frames_done = 0
        self.out = np.empty((max(expected_rows, 1), N_MELS), np.float32)
        self.peak = -np.inf

    def push(self, samples: np.ndarray) -> None:
        self.buffer = np.concatenate([self.buffer, samples.astype(np.float32, copy=False)])
        self.total += len(samples)
        self._run(len(self.buffer) // HOP - 1 if len(self.buffer) >= N_FFT else 0)

    def finish(self, min_rows: int = 0) -> np.ndarray:
        """(rows, 60) dB, rows = max(1 + samples // 1024 (librosa's count), ``min_rows``); rows past
        the mel frames hold the array's floor value."""
        n_frames = 1 + self.total // HOP
        remaining = n_frames - self.frames_done
        need = (remaining - 1) * HOP + N_FFT
        if len(self.buffer) < need:
            self.buffer = np.concatenate([self.buffer, np.zeros(need - len(self.buffer), np.float32)])
        self._run(remaining)
        rows = max(n_frames, min_rows)
        self._reserve(rows)
        db = self.out[:n_frames]
        np.maximum(db, np.float32(self.peak - TOP_DB), out=db)
        self.out[n_frames:rows] = db.min() if n_frames else -100.0
        return self.out[:rows]

    def _reserve(self, rows: int) -> None:
        if rows > len(self.out):
            grown = np.empty((max(rows, 2 * len(self.out)), N_MELS), np.float32)
            grown[: self.frames_done] = self.out[: self.frames_done]
            self.out = grown

    def _run(self, count: int) -> None:
        if count <= 0:
            return
        frames = librosa.util.frame(self.buffer[: (count - 1) * HOP + N_FFT], frame_length=N_FFT,
                                    hop_length=HOP, axis=0)
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        block = (power @ self.filters.T).astype(np.float32)
        np.log10(np.maximum(block, np.float32(1e-10)), out=block)
        block *= np.float32(10.0)
        self.peak = max(self.peak, float(block.max()))
        self._reserve(self.frames_done + count)
        self.out[self.frames_done: self.frames_done + count] = block
        self.frames_done += count
        self.buffer = self.buffer[count * HOP:]


@register_extractor("logmel_tsl300")
class LogMelTSL300(Extractor):
    """60-band log-mel in dB, 32 frames per snippet, exactly as TSL-300's ``logmfcc`` files."""

    version = "1"
    modality = "logmfcc"
    input = "audio"

    def __init__(self, mp3_round_trip: bool = True):
        self.mp3_round_trip = bool(mp3_round_trip)

    def spec(self) -> ExtractorSpec:
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(timegrid.MEL_FRAMES_PER_SNIPPET, N_MELS), sample_rate=SR_FORMULA, layout="flat",
            params={"n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS, "power_to_db": {"ref": 1.0,
                    "top_db": TOP_DB}, "mp3_round_trip": self.mp3_round_trip, "resampler": "soxr_hq",
                    "audio_start": "first audio sample", "fps": "stream average frame rate"},
        )

    def request(self, info, fps):
        rate = mp3_rate(info.audio_rate or 44100) if self.mp3_round_trip else (info.audio_rate or 44100)
        return AudioRequest(sample_rate=rate, channels=2, aligned=False)

    def open(self, info, fps):
        request = self.request(info, fps)
        target = tsl300_sample_rate(fps)
        expected = 1 + int(info.duration * target) // HOP + 64           # rows, from the header
        expected = max(expected, timegrid.MEL_FRAMES_PER_SNIPPET * (timegrid.num_snippets(info.n_frames or 0) + 1))
        return _LogMelSink(request.sample_rate, min(2, info.audio_channels or 1), target,
                           self.mp3_round_trip, expected)

    def missing(self, n_snippets):
        return np.zeros((n_snippets * timegrid.MEL_FRAMES_PER_SNIPPET, N_MELS), np.float32)


class _LogMelSink(Sink):
    def __init__(self, rate: int, channels: int, target_rate: int, round_trip: bool, expected_rows: int):
        self.round_trip = Mp3RoundTrip(rate, channels) if round_trip else None
        self.resampler = soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
        self.rate, self.target_rate = rate, target_rate
        self.mel = StreamingMel(target_rate, expected_rows)
        self.samples_in = 0
        self.samples_out = 0

    def feed(self, event):
        if isinstance(event, AudioChunk):
            blocks = self.round_trip.push(event.samples) if self.round_trip else [event.samples]
            self._consume(blocks, last=False)

    def _consume(self, blocks, last: bool):
        mono = [b.mean(axis=0) for b in blocks]            # librosa.to_mono
        signal = np.concatenate(mono) if mono else np.zeros(0, np.float32)
        self.samples_in += len(signal)
        out = self.resampler.resample_chunk(signal.astype(np.float32), last=last)
        if last:  # librosa.resample fixes the length to ceil(n * ratio)
            expected = int(np.ceil(self.samples_in * self.target_rate / self.rate))
            out = out[: max(0, expected - self.samples_out)]
            out = np.pad(out, (0, max(0, expected - self.samples_out - len(out))))
        self.samples_out += len(out)
        self.mel.push(out)

    def result(self, n_snippets):
        self._consume(self.round_trip.push(None) if self.round_trip else [], last=True)
        return self.mel.finish(n_snippets * timegrid.MEL_FRAMES_PER_SNIPPET)

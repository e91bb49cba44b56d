"""``audio_prosody``: energy, pitch, voicing and spectral shape per snippet (no weights).

Audio is mono 16 kHz on the video clock, cut into 64 ms frames every 20 ms (frame ``k`` is
centred on sample ``320 k``, so numbers never depend on how the decoder chunks the stream).
Per frame: log energy, zero-crossing rate, spectral centroid/bandwidth/roll-off/flatness and
flux (librosa), 13 MFCCs (librosa), pitch by YIN (librosa) with a voicing strength from the
normalised autocorrelation peak between 60 and 500 Hz. Each snippet gets the mean and std of those, the
voiced fraction, the mean and std of pitch over voiced frames and the peak energy.

Units are scaled to roughly unit range: energies in dBFS/10, frequencies in kHz, pitch in
octaves relative to 100 Hz, MFCCs/10. What it misses: words and their meaning, speaker identity,
music vs. speech beyond spectral shape; pitch is unreliable under music or several speakers.
"""
from __future__ import annotations

import numpy as np
import librosa

from tsl300 import timegrid
from tsl300.io import AudioChunk

from .base import AudioExtractor, Sink, SnippetPooler
from .registry import register_extractor
from .spec import ExtractorSpec

SAMPLE_RATE = 16000
FRAME = 1024
HOP = 320
FMIN, FMAX = 60.0, 500.0
VOICING_THRESHOLD = 0.5
ENERGY_FLOOR_DB = -100.0
N_MFCC = 13
N_MELS = 40

FRAME_COLUMNS = (["log_energy", "zcr", "centroid", "bandwidth", "rolloff", "flatness", "flux",
                  "periodicity"] + [f"mfcc_{i}" for i in range(N_MFCC)])
EXTRA_COLUMNS = ["voiced_fraction", "pitch_mean", "pitch_std", "energy_max"]

_WINDOW = np.hanning(FRAME + 2)[1:-1].astype(np.float32)
_MEL = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=FRAME, n_mels=N_MELS)
_FREQS = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)


def frame_features(frames: np.ndarray, previous_logmel: np.ndarray | None, signal: np.ndarray):
    """Per-frame values of (n, 1024) float32 frames -> ((n, 21), pitch_octaves, voiced, last log-mel).

    ``signal`` is the stretch the frames were cut from (frame k starts at sample k*HOP), for YIN.
    """
    energy = np.mean(frames * frames, axis=1)
    log_energy = 10 * np.log10(np.maximum(energy, 10 ** (ENERGY_FLOOR_DB / 10)))
    zcr = np.mean(np.abs(np.diff(np.signbit(frames), axis=1)), axis=1)

    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    magnitude = np.abs(spectrum).T.astype(np.float32)            # (freq, n) as librosa wants
    power = magnitude ** 2
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=SAMPLE_RATE, n_fft=FRAME)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=magnitude, sr=SAMPLE_RATE, n_fft=FRAME)[0]
    rolloff = librosa.feature.spectral_rolloff(S=magnitude, sr=SAMPLE_RATE, n_fft=FRAME)[0]
    flatness = librosa.feature.spectral_flatness(S=magnitude)[0]
    logmel = librosa.power_to_db(_MEL @ power, ref=1.0, top_db=None)     # (mels, n)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=N_MFCC)
    before = np.concatenate([logmel[:, :1] if previous_logmel is None else previous_logmel[:, None],
                             logmel[:, :-1]], axis=1)
    flux = np.maximum(logmel - before, 0.0).mean(axis=0)

    periodicity = _periodicity(frames)
    pitch = librosa.yin(signal, fmin=FMIN, fmax=FMAX, sr=SAMPLE_RATE, frame_length=FRAME,
                        hop_length=HOP, center=False)[: len(frames)]
    voiced = (periodicity > VOICING_THRESHOLD) & (log_energy > -50.0)
    values = np.column_stack([
        log_energy / 10, zcr, centroid / 1000, bandwidth / 1000, rolloff / 1000, flatness,
        flux / 10, periodicity, *(mfcc / 10),
    ]).astype(np.float64)
    return values, np.log2(pitch / 100.0), voiced, logmel[:, -1]


def _periodicity(frames: np.ndarray) -> np.ndarray:
    """Voicing strength in [0, 1]: the highest normalised autocorrelation at a 60-500 Hz lag."""
    centred = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(centred, n=2 * FRAME, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :FRAME]
    acf = acf / (FRAME - np.arange(FRAME))                     # unbiased: undo the overlap taper
    lo, hi = int(SAMPLE_RATE / FMAX), int(np.ceil(SAMPLE_RATE / FMIN))
    energy = acf[:, 0]
    strength = acf[:, lo:hi + 1].max(axis=1) / np.maximum(energy, 1e-12)
    return np.where(energy > 1e-12, np.clip(strength, 0.0, 1.0), 0.0)


@register_extractor("audio_prosody")
class AudioProsody(AudioExtractor):
    """Energy, pitch/voicing, spectral shape and MFCC statistics per snippet."""

    version = "1"
    modality = "audio_prosody"
    sample_rate = SAMPLE_RATE

    def spec(self) -> ExtractorSpec:
        columns = tuple([f"{c}_mean" for c in FRAME_COLUMNS] + [f"{c}_std" for c in FRAME_COLUMNS]
                        + EXTRA_COLUMNS)
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(len(columns),), sample_rate=SAMPLE_RATE, columns=columns,
            params={"frame": FRAME, "hop": HOP, "fmin": FMIN, "fmax": FMAX,
                    "voicing_threshold": VOICING_THRESHOLD, "n_mfcc": N_MFCC, "n_mels": N_MELS},
        )

    def open(self, info, fps):
        return _ProsodySink(fps)


class _ProsodySink(Sink):
    """Frames the aligned stream on a fixed global grid and pools frames per snippet."""

    def __init__(self, fps: float):
        self.fps = fps
        self.buffer = np.zeros(FRAME // 2, np.float32)   # frame k is centred on sample k*HOP
        self.next_frame = 0
        self.total = 0
        self.previous_logmel = None
        # columns: 21 frame values, then voiced, pitch*voiced, pitch^2*voiced, energy (for max)
        self.pooler = SnippetPooler(("mean", "std", "max"))

    def feed(self, event):
        if isinstance(event, AudioChunk):
            self.buffer = np.concatenate([self.buffer, event.samples[0]])
            self.total += event.samples.shape[1]
            self._process()

    def _process(self, final: bool = False):
        available = (len(self.buffer) - FRAME) // HOP + 1 if len(self.buffer) >= FRAME else 0
        if final:  # frames whose centre lies inside the signal
            remaining = -(-self.total // HOP) - self.next_frame
            need = (remaining - 1) * HOP + FRAME
            if remaining > 0 and len(self.buffer) < need:
                self.buffer = np.concatenate([self.buffer, np.zeros(need - len(self.buffer), np.float32)])
            available = max(remaining, 0)
        if available <= 0:
            return
        signal = self.buffer[: (available - 1) * HOP + FRAME]
        frames = librosa.util.frame(signal, frame_length=FRAME, hop_length=HOP, axis=0)
        values, pitch, voiced, self.previous_logmel = frame_features(frames, self.previous_logmel, signal)
        v = voiced.astype(np.float64)
        pv = np.where(voiced, pitch, 0.0)
        rows = np.column_stack([values, v, pv, pv * pv])
        index = np.arange(self.next_frame, self.next_frame + available)
        snippets = timegrid.seconds_to_snippet(index * HOP / SAMPLE_RATE, self.fps)
        self.pooler.push(snippets, rows)
        self.next_frame += available
        self.buffer = self.buffer[available * HOP:]

    def result(self, n_snippets):
        self._process(final=True)
        width = len(FRAME_COLUMNS) + 3
        pooled = self.pooler.result(n_snippets, width).astype(np.float64)
        mean, std, peak = pooled[:, :width], pooled[:, width:2 * width], pooled[:, 2 * width:]
        k = len(FRAME_COLUMNS)
        voiced = mean[:, k]
        safe = np.maximum(voiced, 1e-9)
        pitch_mean = np.where(voiced > 0, mean[:, k + 1] / safe, 0.0)
        pitch_var = np.where(voiced > 0, mean[:, k + 2] / safe - pitch_mean ** 2, 0.0)
        out = np.column_stack([mean[:, :k], std[:, :k], voiced, pitch_mean,
                               np.sqrt(np.maximum(pitch_var, 0.0)), peak[:, 0]])
        covered = np.zeros(n_snippets, bool)
        covered[[i for i in self.pooler.done if 0 <= i < n_snippets]] = True
        out[~covered] = 0.0
        return out.astype(np.float32)

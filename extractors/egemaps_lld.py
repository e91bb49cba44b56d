"""``egemaps_lld``: the 25 low-level descriptors of the eGeMAPS affect set, in numpy/librosa.

eGeMAPS (Eyben et al. 2016, IEEE Trans. Affective Computing 7(2)) is the standard minimal
acoustic set for affect across speakers. openSMILE's implementation is non-commercial, so this
is a re-implementation from the paper's definitions (``opensmile`` can still be installed as an
optional extra to compare). Frames: 64 ms every 20 ms at 16 kHz (frame ``k`` centred on sample
``320 k``, the ``audio_prosody`` grid); formants from a 25 ms pre-emphasised LPC(12) window.

Descriptors per frame (eGeMAPS names): loudness (sum of mel-band power^0.3), alpha ratio
(50-1000 Hz vs 1-5 kHz energy, dB), Hammarberg index (peak 0-2 kHz vs 2-5 kHz, dB), spectral
slopes 0-500 and 500-1500 Hz (dB/kHz), spectral flux, MFCC 1-4; over voiced frames only: F0 in
semitones from 27.5 Hz, jitter (relative period change between consecutive voiced frames),
shimmer (dB amplitude change), HNR (from the autocorrelation peak), H1-H2, H1-A3, F1-F3
frequency and bandwidth, F1-F3 amplitude relative to H1. Per snippet: mean and std of each (the
voiced ones over voiced frames) and the voiced fraction.

Differences from openSMILE (so numbers are close in kind, not equal): jitter and shimmer are
frame-to-frame rather than period-to-period; loudness uses a mel rather than a Bark auditory
spectrum; pitch is YIN rather than SHS + Viterbi.
"""
from __future__ import annotations

import numpy as np
import librosa

from tsl300 import timegrid
from tsl300.io import AudioChunk

from .audio_prosody import FMAX, FMIN, FRAME, HOP, SAMPLE_RATE, _periodicity
from .base import AudioExtractor, Sink, SnippetPooler
from .registry import register_extractor
from .spec import ExtractorSpec

N_MELS = 26
LPC_ORDER = 12
LPC_WINDOW = 400
VOICING_THRESHOLD = 0.5
SILENCE_DB = -50.0

UNVOICED = ["loudness", "alpha_ratio", "hammarberg", "slope_0_500", "slope_500_1500", "flux",
            "mfcc1", "mfcc2", "mfcc3", "mfcc4"]
VOICED = ["f0_semitone", "jitter", "shimmer_db", "hnr_db", "h1_h2", "h1_a3",
          "f1", "f2", "f3", "f1_bw", "f2_bw", "f3_bw", "f1_amp", "f2_amp", "f3_amp"]
COLUMNS = tuple([f"{c}_mean" for c in UNVOICED + VOICED] + [f"{c}_std" for c in UNVOICED + VOICED]
                + ["voiced_fraction"])

_WINDOW = np.hanning(FRAME + 2)[1:-1].astype(np.float32)
_LPC_WINDOW = np.hamming(LPC_WINDOW)
_MEL = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=FRAME, n_mels=N_MELS, fmin=20, fmax=8000)
_FREQS = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)


def _band(lo, hi):
    return (_FREQS >= lo) & (_FREQS < hi)


def _slope(log_power: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least-squares slope (dB per kHz) of each frame's log power over the masked bins."""
    f = _FREQS[mask] / 1000.0
    y = log_power[:, mask]
    fc = f - f.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ fc / (fc @ fc)


def _harmonic_db(log_mag: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """dB magnitude at the bin nearest ``freq`` (n,) (searching +-10% for the peak)."""
    lo = np.clip(np.floor(freq * 0.9 / SAMPLE_RATE * FRAME).astype(int), 0, len(_FREQS) - 1)
    hi = np.clip(np.ceil(freq * 1.1 / SAMPLE_RATE * FRAME).astype(int) + 1, 1, len(_FREQS))
    bins = np.arange(len(_FREQS))
    inside = (bins[None] >= lo[:, None]) & (bins[None] < hi[:, None])
    return np.where(inside, log_mag, -np.inf).max(axis=1)


def lpc(frames: np.ndarray, order: int = LPC_ORDER) -> np.ndarray:
    """LPC coefficients ``[1, a1..ap]`` (n, p+1) of each frame by Levinson-Durbin (vectorised)."""
    n, length = frames.shape
    spec = np.fft.rfft(frames, n=2 * length, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : order + 1]
    r[:, 0] = r[:, 0] * (1 + 1e-9) + 1e-12
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.einsum("nj,nj->n", a[:, 1:i], r[:, i - 1:0:-1]) if i > 1 else r[:, 1].copy()
        k = -acc / err
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1:0:-1]
        a[:, i] = k
        err = err * (1 - k * k)
    return a


def formants(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(freq (n, 3) Hz, bandwidth (n, 3) Hz) of the three lowest LPC resonances above 90 Hz
    with bandwidth under 600 Hz; 0 where fewer are found."""
    start = (FRAME - LPC_WINDOW) // 2
    seg = frames[:, start:start + LPC_WINDOW].astype(np.float64)
    seg = np.concatenate([seg[:, :1], seg[:, 1:] - 0.97 * seg[:, :-1]], axis=1) * _LPC_WINDOW
    a = lpc(seg)
    p = a.shape[1] - 1
    companion = np.zeros((len(a), p, p))
    companion[:, 0, :] = -a[:, 1:]
    companion[:, np.arange(1, p), np.arange(p - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    freq = np.angle(roots) * SAMPLE_RATE / (2 * np.pi)
    bw = -np.log(np.maximum(np.abs(roots), 1e-9)) * SAMPLE_RATE / np.pi
    ok = (roots.imag > 0) & (freq > 90) & (bw < 600)
    key = np.where(ok, freq, np.inf)
    order = np.argsort(key, axis=1)[:, :3]
    f = np.take_along_axis(key, order, axis=1)
    b = np.take_along_axis(bw, order, axis=1)
    found = np.isfinite(f)
    return np.where(found, f, 0.0), np.where(found, b, 0.0)


def frame_descriptors(frames: np.ndarray, signal: np.ndarray, previous: np.ndarray | None):
    """((n, 10) always-defined values, (n, 15) voiced values, voiced mask, last normalised spectrum)."""
    energy_db = 10 * np.log10(np.maximum(np.mean(frames * frames, axis=1), 1e-10))
    mag = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)).astype(np.float64)
    power = mag ** 2
    log_mag = 20 * np.log10(mag + 1e-10)
    log_power = 10 * np.log10(power + 1e-10)
    mel = power @ _MEL.T
    loudness = np.sum(mel ** 0.3, axis=1)
    alpha = 10 * np.log10((mag[:, _band(50, 1000)].sum(1) + 1e-10) / (mag[:, _band(1000, 5000)].sum(1) + 1e-10))
    hammarberg = 10 * np.log10((mag[:, _band(0, 2000)].max(1) + 1e-10) / (mag[:, _band(2000, 5000)].max(1) + 1e-10))
    slope_lo = _slope(log_power, _band(0, 500))
    slope_hi = _slope(log_power, _band(500, 1500))
    norm = mag / np.maximum(mag.sum(axis=1, keepdims=True), 1e-10)
    before = np.concatenate([norm[:1] if previous is None else previous[None], norm[:-1]])
    flux = np.sum((norm - before) ** 2, axis=1) * 100
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel.T, ref=1.0, top_db=None), n_mfcc=5)[1:5].T

    periodicity = _periodicity(frames)
    f0 = librosa.yin(signal, fmin=FMIN, fmax=FMAX, sr=SAMPLE_RATE, frame_length=FRAME,
                     hop_length=HOP, center=False)[: len(frames)]
    voiced = (periodicity > VOICING_THRESHOLD) & (energy_db > SILENCE_DB)
    semitone = 12 * np.log2(f0 / 27.5)
    period = 1.0 / f0
    jitter = np.abs(np.diff(period, prepend=period[:1])) / period
    amplitude_db = 20 * np.log10(np.maximum(np.abs(frames).max(axis=1), 1e-6))
    shimmer = np.abs(np.diff(amplitude_db, prepend=amplitude_db[:1]))
    r = np.clip(periodicity, 1e-4, 1 - 1e-4)
    hnr = 10 * np.log10(r / (1 - r))
    h1 = _harmonic_db(log_mag, f0)
    h2 = _harmonic_db(log_mag, 2 * f0)
    freq, bw = formants(frames)
    amps = [_harmonic_db(log_mag, np.maximum(f, f0)) - h1 for f in freq.T]
    a3 = amps[2] + h1
    always = np.column_stack([loudness / 10, alpha / 10, hammarberg / 10, slope_lo / 10, slope_hi / 10,
                              flux, mfcc / 100])
    voiced_values = np.column_stack([semitone / 10, jitter, shimmer / 10, hnr / 10, (h1 - h2) / 10,
                                     (h1 - a3) / 10, freq / 1000, bw / 1000, np.column_stack(amps) / 10])
    return always, voiced_values, voiced, norm[-1]


@register_extractor("egemaps_lld")
class EgemapsLLD(AudioExtractor):
    """eGeMAPS low-level descriptors, mean and std per snippet (no weights)."""

    version = "1"
    modality = "egemaps_lld"
    sample_rate = SAMPLE_RATE

    def spec(self) -> ExtractorSpec:
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(len(COLUMNS),), sample_rate=SAMPLE_RATE, columns=COLUMNS,
            params={"frame": FRAME, "hop": HOP, "n_mels": N_MELS, "lpc_order": LPC_ORDER,
                    "lpc_window": LPC_WINDOW, "voicing_threshold": VOICING_THRESHOLD},
        )

    def open(self, info, fps):
        return _EgemapsSink(fps)


class _EgemapsSink(Sink):
    """Same framing as ``audio_prosody`` (global 20 ms grid), pooled per snippet."""

    def __init__(self, fps: float):
        self.fps = fps
        self.buffer = np.zeros(FRAME // 2, np.float32)
        self.next_frame = 0
        self.total = 0
        self.previous = None
        self.pooler = SnippetPooler(("mean",))

    def feed(self, event):
        if isinstance(event, AudioChunk):
            self.buffer = np.concatenate([self.buffer, event.samples[0]])
            self.total += event.samples.shape[1]
            self._process()

    def _process(self, final: bool = False):
        available = (len(self.buffer) - FRAME) // HOP + 1 if len(self.buffer) >= FRAME else 0
        if final:
            remaining = -(-self.total // HOP) - self.next_frame
            need = (remaining - 1) * HOP + FRAME
            if remaining > 0 and len(self.buffer) < need:
                self.buffer = np.concatenate([self.buffer, np.zeros(need - len(self.buffer), np.float32)])
            available = max(remaining, 0)
        if available <= 0:
            return
        signal = self.buffer[: (available - 1) * HOP + FRAME]
        frames = librosa.util.frame(signal, frame_length=FRAME, hop_length=HOP, axis=0)
        always, voiced_values, voiced, self.previous = frame_descriptors(frames, signal, self.previous)
        v = voiced.astype(np.float64)[:, None]
        vv = np.where(voiced[:, None], voiced_values, 0.0)
        # pooled sums: x, x^2 of the always-defined values; voiced count, v*x, v*x^2
        rows = np.column_stack([always, always ** 2, v, vv, vv ** 2])
        index = np.arange(self.next_frame, self.next_frame + available)
        self.pooler.push(timegrid.seconds_to_snippet(index * HOP / SAMPLE_RATE, self.fps), rows)
        self.next_frame += available
        self.buffer = self.buffer[available * HOP:]

    def result(self, n_snippets):
        self._process(final=True)
        a, b = len(UNVOICED), len(VOICED)
        m = self.pooler.result(n_snippets, 2 * a + 1 + 2 * b).astype(np.float64)
        mean_a, sq_a = m[:, :a], m[:, a:2 * a]
        frac = m[:, 2 * a]
        safe = np.maximum(frac, 1e-9)[:, None]
        mean_v = np.where(frac[:, None] > 0, m[:, 2 * a + 1:2 * a + 1 + b] / safe, 0.0)
        sq_v = np.where(frac[:, None] > 0, m[:, 2 * a + 1 + b:] / safe, 0.0)
        std_a = np.sqrt(np.maximum(sq_a - mean_a ** 2, 0.0))
        std_v = np.sqrt(np.maximum(sq_v - mean_v ** 2, 0.0))
        out = np.column_stack([mean_a, mean_v, std_a, std_v, frac])
        covered = np.zeros(n_snippets, bool)
        covered[[i for i in self.pooler.done if 0 <= i < n_snippets]] = True
        out[~covered] = 0.0
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

"""``speech_activity``: how much of each snippet is speech, by Silero VAD (MIT, weights in its wheel).

The voice-activity model runs on consecutive 512-sample (32 ms) chunks of the aligned 16 kHz
mono stream, its recurrent state carried across chunks; chunk ``k`` belongs to the snippet that
holds its centre. Per snippet: the mean speech probability and the fraction of chunks above 0.5.
It is what :mod:`tsl300.speech_gate` reads to say "no speech here" (silence, music, noise), so
an audio model never reports sentiment where nobody speaks.
"""
from __future__ import annotations

import functools

import numpy as np

from tsl300 import timegrid
from tsl300.io import AudioChunk

from .base import AudioExtractor, Sink, SnippetPooler
from .registry import register_extractor
from .spec import ExtractorSpec

SAMPLE_RATE = 16000
CHUNK = 512
SPEECH_PROBABILITY = 0.5
COLUMNS = ("speech_prob_mean", "speech_fraction")


@functools.lru_cache(maxsize=1)
def _model():
    """The Silero VAD TorchScript model shipped inside the ``silero-vad`` wheel (no download)."""
    import warnings

    from silero_vad import load_silero_vad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return load_silero_vad()


@register_extractor("speech_activity")
class SpeechActivity(AudioExtractor):
    """Speech probability per snippet (Silero VAD)."""

    version = "1"
    modality = "speech_activity"
    sample_rate = SAMPLE_RATE

    def spec(self) -> ExtractorSpec:
        return ExtractorSpec(
            name=self.name, version=self.version, modality=self.modality, input=self.input,
            shape=(len(COLUMNS),), sample_rate=SAMPLE_RATE, columns=COLUMNS,
            params={"chunk": CHUNK, "speech_probability": SPEECH_PROBABILITY, "model": "silero_vad"},
        )

    def open(self, info, fps):
        return _VadSink(fps)


class _VadSink(Sink):
    def __init__(self, fps: float):
        import torch

        self.torch = torch
        self.fps = fps
        self.model = _model()
        self.model.reset_states()
        self.buffer = np.zeros(0, np.float32)
        self.next_chunk = 0
        self.pooler = SnippetPooler(("mean",))

    def feed(self, event):
        if isinstance(event, AudioChunk):
            self.buffer = np.concatenate([self.buffer, event.samples[0].astype(np.float32)])
            self._process()

    def _process(self, final: bool = False):
        n = len(self.buffer) // CHUNK
        if final and len(self.buffer) % CHUNK:
            self.buffer = np.concatenate([self.buffer, np.zeros(CHUNK - len(self.buffer) % CHUNK, np.float32)])
            n += 1
        if n == 0:
            return
        chunks = self.torch.from_numpy(self.buffer[: n * CHUNK].reshape(n, CHUNK).copy())
        with self.torch.no_grad():
            probs = np.array([float(self.model(c, SAMPLE_RATE)) for c in chunks])
        index = np.arange(self.next_chunk, self.next_chunk + n)
        snippets = timegrid.seconds_to_snippet((index * CHUNK + CHUNK / 2) / SAMPLE_RATE, self.fps)
        self.pooler.push(snippets, np.column_stack([probs, probs > SPEECH_PROBABILITY]))
        self.next_chunk += n
        self.buffer = self.buffer[n * CHUNK:]

    def result(self, n_snippets):
        self._process(final=True)
        return self.pooler.result(n_snippets, len(COLUMNS))

"""``text``: what is said, per snippet, from subtitles or a transcript (no weights, offline).

Where the words come from, first found wins: ``transcripts/STEM{.json,.srt,.vtt}`` (a folder the
user names: whisper JSON/SRT, any subtitle file), a sidecar ``STEM.srt``/``STEM.vtt`` next to the
video, the video's own subtitle stream (:mod:`tsl300.io.subtitles`). Cues are placed on the
snippet grid by their overlap with each snippet (a cue covering half a snippet counts half).

Per cue: VADER's lexicon sentiment (``neg, neu, pos, compound``; the lexicon ships in the
``vaderSentiment`` wheel) and a signed hashed bag of words (``hash_dim`` buckets of lower-cased
word unigrams, md5-hashed so every process gets the same buckets; L2-normalised per cue), so a
trained model can learn words VADER does not know ("genius" scores 0 in VADER). Per snippet: the
covered fraction, then the overlap-weighted mean of the cue features. Snippets without words
are zeros with coverage 0; a video without any words is a missing modality (zeros, marker).

Optional ``encoder``: a transformers text model (a ``save_pretrained`` folder, or a hub id already
in the local cache; nothing is downloaded) whose attention-masked mean last hidden state per cue
is appended (``emb_*`` columns) and named in the spec.

VADER is English only: a transcript that names another language (whisper's ``language``, a
subtitle stream's language tag) is treated as no words, with a warning.
"""
from __future__ import annotations

import hashlib
import re
import warnings as _warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from tsl300 import timegrid
from tsl300.errors import CheckpointError
from tsl300.io import VideoRequest
from tsl300.io.subtitles import Cue, Transcript, find_transcript, read_embedded, read_transcript

from .base import Extractor, Sink
from .registry import register_extractor
from .spec import ExtractorSpec

HASH_DIM = 256
VADER_COLUMNS = ("vader_neg", "vader_neu", "vader_pos", "vader_compound")
ENGLISH = ("en", "eng", "english")
_WORD = re.compile(r"[a-z0-9']+")


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_scores(texts: Sequence[str]) -> np.ndarray:
    """(n, 4) VADER ``neg, neu, pos, compound`` of each text (zeros for an empty text)."""
    out = np.zeros((len(texts), 4), np.float32)
    for i, text in enumerate(texts):  # VADER scores one string at a time
        if text.strip():
            s = _analyzer().polarity_scores(text)
            out[i] = (s["neg"], s["neu"], s["pos"], s["compound"])
    return out


@lru_cache(maxsize=65536)
def _bucket(word: str, dim: int) -> tuple[int, float]:
    digest = hashlib.md5(word.encode("utf-8")).digest()
    value = int.from_bytes(digest[:8], "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


def hashed_words(texts: Sequence[str], dim: int = HASH_DIM) -> np.ndarray:
    """(n, dim) signed hashed word counts of each text, L2-normalised per text."""
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        for word in _WORD.findall(text.lower().replace("\u2019", "'")):
            b, sign = _bucket(word, dim)
            rows.append(i)
            cols.append(b)
            vals.append(sign)
    out = np.zeros((len(texts), dim), np.float32)
    np.add.at(out, (np.array(rows, np.int64), np.array(cols, np.int64)), np.array(vals, np.float32))
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norm, 1e-6)


@lru_cache(maxsize=2)
def _encoder(model: str):
    from transformers import AutoModel, AutoTokenizer

    try:
        return (AutoTokenizer.from_pretrained(model, local_files_only=True),
                AutoModel.from_pretrained(model, local_files_only=True).eval())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{model}: cannot load the text encoder ({str(exc).splitlines()[0]}); "
                              "give a local save_pretrained folder") from None


def embedding_dim(encoder: str | None) -> int:
    return int(_encoder(encoder)[1].config.hidden_size) if encoder else 0


def sentence_embeddings(texts: Sequence[str], encoder: str, batch: int = 32) -> np.ndarray:
    """(n, hidden) attention-masked mean of the encoder's last hidden states, per text."""
    import torch

    tokenizer, model = _encoder(encoder)
    out = np.zeros((len(texts), embedding_dim(encoder)), np.float32)
    for i in range(0, len(texts), batch):
        enc = tokenizer(list(texts[i:i + batch]), padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state                       # (B, L, H)
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)       # (B, L, 1)
        out[i:i + batch] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().numpy()
    return out


def cue_features(texts: Sequence[str], dim: int = HASH_DIM, encoder: str | None = None) -> np.ndarray:
    """(n, 4 + dim [+ hidden]): VADER scores, hashed words [, encoder embedding], per cue."""
    parts = [vader_scores(texts), hashed_words(texts, dim)]
    if encoder:
        parts.append(sentence_embeddings(texts, encoder))
    return np.concatenate(parts, axis=1)


def cue_weights(cues: list[Cue], n_snippets: int, fps: float) -> np.ndarray:
    """(T, n_cues) fraction of each snippet covered by each cue (0..1), from the time grid."""
    index = np.arange(n_snippets)
    lo = timegrid.snippet_start(index, fps)[:, None]
    hi = timegrid.snippet_end(index, fps)[:, None]
    starts = np.array([c.start for c in cues], np.float64)[None, :]
    ends = np.array([c.end for c in cues], np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, ends) - np.maximum(lo, starts), 0.0, None)
    return (overlap / timegrid.snippet_seconds(fps)).reshape(n_snippets, len(cues))


def text_features(cues: Sequence[Cue], n_snippets: int, fps: float, dim: int = HASH_DIM,
                  encoder: str | None = None) -> np.ndarray:
    """(T, 1 + 4 + dim [+ hidden]) per-snippet features: coverage, then the overlap-weighted mean
    cue features."""
    out = np.zeros((n_snippets, 1 + 4 + dim + embedding_dim(encoder)), np.float32)
    if not cues or n_snippets == 0:
        return out
    weights = cue_weights(list(cues), n_snippets, fps)                 # (T, n)
    total = weights.sum(axis=1, keepdims=True)                           # (T, 1)
    pooled = weights @ cue_features([c.text for c in cues], dim, encoder) / np.maximum(total, 1e-9)
    out[:, :1] = np.minimum(total, 1.0)
    out[:, 1:] = pooled
    return out


def is_english(language: str | None) -> bool:
    return language is None or language.strip().lower().split("-")[0].split("_")[0] in ENGLISH


@register_extractor("text")
class TextExtractor(Extractor):
    """Lexicon sentiment + hashed words per snippet from the video's subtitles or transcript.

    ``transcripts``: a folder of ``STEM.{json,srt,vtt}`` files, looked in first (not part of the
    spec: where the words come from does not change what the numbers mean).
    """

    name = "text"
    version = "1"
    modality = "text"
    input = "video"

    def __init__(self, hash_dim: int = HASH_DIM, transcripts: str | None = None, encoder: str | None = None):
        self.hash_dim = int(hash_dim)
        self.transcripts = transcripts
        self.encoder = str(encoder) if encoder else None

    def spec(self) -> ExtractorSpec:
        columns = (("coverage",) + VADER_COLUMNS + tuple(f"hash_{i}" for i in range(self.hash_dim))
                   + tuple(f"emb_{i}" for i in range(embedding_dim(self.encoder))))
        params = {"hash_dim": self.hash_dim, "lexicon": "vaderSentiment", "hash": "md5 signed unigrams, l2 per cue"}
        if self.encoder:
            params["encoder"] = self.encoder
        return ExtractorSpec(name=self.name, version=self.version, modality=self.modality, input="text",
                             shape=(len(columns),), columns=columns, params=params)

    def request(self, info, fps):
        return VideoRequest(width=16, height=16)  # the frames are ignored; only the clock is used

    def transcript(self, path: str, duration: float | None) -> Transcript | None:
        """The first transcript found for the video at ``path`` (see the module doc), or None."""
        found = find_transcript(path, self.transcripts)
        if found is not None:
            return read_transcript(found, duration)
        return read_embedded(path, duration)

    def open(self, info, fps):
        return _TextSink(self, info.path, info.duration, fps)


class _TextSink(Sink):
    def __init__(self, extractor: TextExtractor, path: str, duration: float | None, fps: float):
        self.extractor, self.path, self.duration, self.fps = extractor, path, duration, fps
        self.missing = True
        self.warnings: list[str] = []

    def feed(self, event):
        pass

    def result(self, n_snippets):
        end = self.duration or n_snippets * timegrid.snippet_seconds(self.fps)
        transcript = self.extractor.transcript(self.path, end)
        if transcript is None:
            return np.zeros((n_snippets, self.extractor.spec().shape[0]), np.float32)
        self.warnings.extend(transcript.warnings)
        if not is_english(transcript.language):
            self.warnings.append(f"{transcript.source}: language {transcript.language!r}; the text "
                                 "features (VADER) are English only, so text is masked")
            transcript = Transcript([], transcript.source)
        for message in self.warnings:
            _warnings.warn(message, stacklevel=2)
        self.missing = transcript.empty
        return text_features(transcript.cues, n_snippets, self.fps, self.extractor.hash_dim, self.extractor.encoder)

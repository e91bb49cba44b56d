"""The multi-speaker emotional speech of ``../shared/media/more_speech`` as speaker sources.

``labels.csv`` (one row per file: source, path, speaker, polarity...) is the only index read.
Three corpora: ASED (Amharic, acted, 65 people), ``emodb_2s`` (German, acted, 8 speakers, first
2 s of each utterance) and URDU (talk-show speech; speaker and emotion confounded, so it is an
evaluation set only). Rules that matter for honest evaluation:

- ASED speaker numbers 09, 15, 21, 23, 25 occur with both gender codes; the *group* of an ASED
  speaker is its number, so a split by :func:`speaker_group` keeps both keys on one side.
- Level: ASED's recording gain follows the emotion (angry/happy/sad about 8 dB louder than
  neutral) and ``emodb_2s`` was peak-normalised per file, so their clips are loudness-normalised
  per clip (:func:`normalise_loudness`); otherwise a model learns the recording level.
- Polarity: positive -> 'p', negative -> 'n', neutral -> background, ambiguous (EmoDB boredom)
  left out.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .splice import BACKGROUND, SourceClip, SpeakerSource

ROLE = {"positive": "p", "negative": "n", "neutral": BACKGROUND}
"""labels.csv polarity -> stream role; 'ambiguous' is left out."""
LEVEL_TIED = frozenset({"ased", "emodb_2s"})
"""Corpora whose per-file level is an artefact (gain follows emotion / per-file peak norm)."""
LICENCE = {
    "ased": "ASED v1: no licence stated; research use only",
    "emodb_2s": "EmoDB (Berlin): free for research use only",
    "urdu": "URDU dataset: research use only; audio from YouTube talk shows",
}
TARGET_DBFS = -23.0
"""Loudness target of :func:`normalise_loudness` (RMS of the active frames)."""


@dataclass(frozen=True)
class Row:
    """One labelled file of ``labels.csv``."""

    source: str
    path: Path
    speaker: str
    emotion: str
    polarity: str


def read_labels(folder: str | Path) -> list[Row]:
    """All rows of ``folder/labels.csv`` with absolute paths."""
    folder = Path(folder)
    with open(folder / "labels.csv", newline="") as fh:
        return [Row(r["source"], folder / r["path"], r["speaker"], r["emotion"], r["polarity"])
                for r in csv.DictReader(fh)]


def speaker_group(speaker: str) -> str:
    """The unit a speaker-disjoint split keeps together: ``ased_01-09`` and ``ased_02-09`` are
    one group (``ased_09``); other corpora: the speaker key itself."""
    if speaker.startswith("ased_") and "-" in speaker:
        return "ased_" + speaker.rsplit("-", 1)[1]
    return speaker


def speaker_sources(folder: str | Path, sources=("ased", "emodb_2s")) -> dict[str, SpeakerSource]:
    """One :class:`SpeakerSource` per speaker *group* of the given corpora, keeping only groups
    with positive, negative and neutral clips (a stream needs all three)."""
    by_group: dict[str, list[SourceClip]] = {}
    corpus: dict[str, str] = {}
    for row in read_labels(folder):
        if row.source not in sources or row.polarity not in ROLE:
            continue
        group = speaker_group(row.speaker)
        by_group.setdefault(group, []).append(SourceClip(row.path, row.emotion, ROLE[row.polarity]))
        corpus[group] = row.source
    out = {}
    for group in sorted(by_group):
        clips = tuple(sorted(by_group[group], key=lambda c: c.path.name))
        roles = {c.role for c in clips}
        if {"p", "n", BACKGROUND} <= roles:
            out[group] = SpeakerSource(group, clips, ship_ok=False, licence=LICENCE[corpus[group]])
    return out


def corpus_of(group: str) -> str:
    """``ased``, ``emodb_2s`` or ``urdu`` from a speaker group name."""
    return "emodb_2s" if group.startswith("emodb") else group.split("_", 1)[0]


def normalise_loudness(audio: np.ndarray, sample_rate: int, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``audio`` scaled so that the RMS of its active 20 ms frames (within 30 dB of the loudest)
    is ``target_dbfs``; peaks are limited to 0.99. Silence is returned unchanged."""
    hop = max(1, sample_rate // 50)
    n = len(audio) // hop
    if n == 0:
        return audio
    power = np.mean(audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    if power.max() <= 1e-12:
        return audio
    active = power[power >= power.max() * 1e-3]
    gain = 10 ** (target_dbfs / 20) / np.sqrt(active.mean())
    out = audio.astype(np.float64) * gain
    peak = np.abs(out).max()
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)

"""MELD utterances -> untrimmed dialogue streams with exact ground truth: a real-data text benchmark.

Why: MELD (declare-lab/MELD) has real dialogue text with real sentiment labels and real start and
end times, but no videos here. Each dialogue becomes one stream: time 0 is ``LEAD_S`` before its
first utterance, the stream ends ``LEAD_S`` after its last; positive and negative utterances are
the ground-truth segments (``p``/``n``), neutral utterances and the gaps are background. The
utterances themselves are the stream's subtitles (one cue each), featurized by the ``text``
extractor's :func:`~tsl300.extractors.text.text_features`. Train streams get one point per
segment, drawn as the spliced-speech dataset does (Gaussian around the centre, sigma = 1/6 of the
length, clipped to the segment). MELD's own split is kept: ``train``, ``dev`` (model selection),
``test``. Rows whose end is not after their start are left out (MELD test has one).

>>> build_meld_dataset("../shared/datasets/meld", "data/meld_text")      # doctest: +SKIP
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io.subtitles import Cue
from ..timegrid import num_snippets, seconds_to_frame
from .layout import write_layout, write_spec
from .splice_dataset import point_labels
from .types import Segment, Video

MELD_FPS = 24000 / 1001
"""Frame rate of the *Friends* episodes MELD was cut from (23.976): the streams' snippet grid."""
LEAD_S = 2.0
"""Background before the first and after the last utterance of a dialogue, seconds."""
SPLITS = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
SENTIMENT_CODE = {"negative": "n", "positive": "p"}
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})\s*$")


def parse_time(text: str) -> float:
    """Seconds of a MELD time ``h:mm:ss,ms`` / ``hh:mm:ss,ms``; DataError otherwise."""
    match = _TIME.match(str(text))
    if not match:
        raise DataError(f"not a MELD time: {text!r}")
    h, m, s, ms = match.groups()
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000.0


@dataclass
class Dialogue:
    """One MELD dialogue laid out as a stream: cues (all utterances) and segments (non-neutral)."""

    vid: str
    subset: str
    duration: float
    cues: list[Cue]
    segments: list[Segment]
    sentiments: list[str] = field(default_factory=list)
    """Per cue: MELD's sentiment (neutral / negative / positive)."""
    dropped: int = 0
    """Rows left out because they end before they start."""


def read_table(path: str | Path) -> pd.DataFrame:
    """One MELD ``*_sent_emo.csv`` with ``start``/``end`` in seconds within the episode."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: MELD table not found")
    table = pd.read_csv(path, encoding="utf-8")
    needed = {"Utterance", "Sentiment", "Dialogue_ID", "Utterance_ID", "StartTime", "EndTime"}
    if not needed <= set(table.columns):
        raise DataError(f"{path}: missing columns {sorted(needed - set(table.columns))}")
    table = table.assign(start=table["StartTime"].map(parse_time), end=table["EndTime"].map(parse_time))
    return table.sort_values(["Dialogue_ID", "Utterance_ID"], kind="stable")


def dialogues(table: pd.DataFrame, subset: str) -> list[Dialogue]:
    """Streams of every dialogue in ``table`` (see the module doc)."""
    out = []
    for dia, rows in table.groupby("Dialogue_ID", sort=True):
        good = rows[rows["end"] > rows["start"]]
        if good.empty:
            continue
        t0 = float(good["start"].min()) - LEAD_S
        starts = good["start"].to_numpy(float) - t0
        ends = good["end"].to_numpy(float) - t0
        texts = [str(t).replace("\u2019", "'") for t in good["Utterance"]]
        sentiments = [str(s) for s in good["Sentiment"]]
        cues = [Cue(float(s), float(e), t, int(u) + 1)
                for s, e, t, u in zip(starts, ends, texts, good["Utterance_ID"])]
        segments = [Segment(float(s), float(e), SENTIMENT_CODE[x])
                    for s, e, x in zip(starts, ends, sentiments) if x in SENTIMENT_CODE]
        out.append(Dialogue(f"meld_{subset}_dia{int(dia)}", subset, float(ends.max()) + LEAD_S, cues,
                            segments, sentiments, dropped=len(rows) - len(good)))
    return out


def dialogue_video(dialogue: Dialogue, featurize: Callable[[list[Cue], int, float], np.ndarray],
                   rng: np.random.Generator, fps: float = MELD_FPS) -> Video:
    """A :class:`Video` of one stream: ``text`` features, ground truth, points when training."""
    n = num_snippets(max(1, seconds_to_frame(dialogue.duration, fps)), pad_last=True)
    video = Video(vid=dialogue.vid, fps=fps, features={"text": featurize(dialogue.cues, n, fps)},
                  segments=list(dialogue.segments), subset=dialogue.subset, duration=dialogue.duration)
    if dialogue.subset == "train" and dialogue.segments:
        video.points, video.point_frames = point_labels(dialogue.segments, fps, rng)
        video.points[:, 0] = np.minimum(video.points[:, 0], n - 1)
    return video


def build_meld_dataset(meld_dir: str | Path, out: str | Path, seed: int = 0, extractor=None) -> Path:
    """Write the MELD text streams in the TSL-300 layout (``split_{train,dev,test}.txt``, gt,
    points, ``features/{split}/text`` + ``spec.json``). ``extractor``: a ``text`` extractor
    instance (default: the registered one with its default options)."""
    if extractor is None:
        from ..extractors import get_extractor

        extractor = get_extractor("text")
    from ..extractors.text import text_features

    def featurize(cues, n, fps):
        return text_features(cues, n, fps, extractor.hash_dim, extractor.encoder)

    videos = []
    for subset, filename in SPLITS.items():
        rng = np.random.default_rng([seed, list(SPLITS).index(subset)])
        for dialogue in dialogues(read_table(Path(meld_dir) / filename), subset):
            videos.append(dialogue_video(dialogue, featurize, rng))
    root = write_layout(Path(out), videos)
    spec = extractor.spec().to_dict()
    for subset in SPLITS:
        write_spec(root, subset, "text", spec)
    return root

"""What :func:`tsl300.localize` returns: typed segments and per-snippet scores, with exporters.

A :class:`LocalizationResult` is plain data (numpy + dataclasses) so it can be saved, reloaded
and compared without the model. Exports:

- ``to_json()``: ActivityNet results format, the file the official TSL-300 evaluator reads
  (``{"version", "results": {vid: [{"label", "score", "segment"}]}, "external_data"}``). The
  ``label`` is the TSL-300 class code (``"n"``/``"p"``) so the file can be scored against a
  TSL-300 ``gt.json`` as is; each entry also carries ``"sentiment"`` ("negative"/"positive").
  A ``"tsl300"`` block keeps the scores and metadata so :meth:`LocalizationResult.from_json`
  restores the result exactly.
- ``to_csv()``, ``to_srt()``, ``to_dataframe()``; :func:`read_csv` and :func:`read_srt` parse
  the first two back. ``save_plot()`` draws a timeline PNG.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import timegrid
from .classes import CLASS_CODES, SENTIMENT_TO_CODE, SENTIMENTS, sentiment_of
from .data.io import atomic_write_text
from .errors import DataError

@dataclass(frozen=True, order=True)
class LocalizedSegment:
    """A detected segment: ``[start, end)`` in seconds, ``label`` 'positive'/'negative', score."""

    start: float
    end: float
    label: str
    score: float

    def __post_init__(self):
        object.__setattr__(self, "label", sentiment_of(self.label))
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "end", float(self.end))
        object.__setattr__(self, "score", float(self.score))
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.end >= self.start):
            raise ValueError(f"segment needs finite start <= end, got [{self.start}, {self.end}]")

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def code(self) -> str:
        """TSL-300 class code ('n'/'p')."""
        return SENTIMENT_TO_CODE[self.label]


@dataclass
class ResultMetadata:
    """Where a result came from: enough to reproduce it or to notice a mismatch."""

    duration: float
    fps: float
    model_name: str = ""
    model_sha256: str = ""
    extractors: list[dict[str, Any]] = field(default_factory=list)
    package_version: str = ""
    audio_missing: bool = False
    text_missing: bool = False       # the model reads text; this video had no (readable) words
    missing_modalities: list[str] = field(default_factory=list)
    snippet_frames: int = timegrid.SNIPPET_FRAMES
    device: str = ""
    windows: int = 1
    threshold: float | None = None    # segments scoring below it were dropped
    all_proposals: bool = False       # True: the full overlapping proposal list


@dataclass
class LocalizationResult:
    """Segments (sorted by start) and per-snippet class scores of one video.

    ``scores`` is (T, 2): column 0 negative, column 1 positive, each in [0, 1], one row per
    snippet of the TSL-300 grid (``tsl300.timegrid``).
    """

    video: str
    segments: list[LocalizedSegment]
    scores: np.ndarray
    metadata: ResultMetadata

    def __post_init__(self):
        self.segments = sorted(self.segments, key=lambda s: (s.start, s.end, s.label, -s.score))
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1, len(SENTIMENTS))

    # ----------------------------------------------------------------- views
    def __iter__(self):
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def video_id(self) -> str:
        """File stem of the video: the key in ActivityNet results files."""
        return Path(self.video).stem

    @property
    def snippet_starts(self) -> np.ndarray:
        idx = np.arange(self.scores.shape[0])
        return timegrid.snippet_start(idx, self.metadata.fps, self.metadata.snippet_frames)

    @property
    def snippet_ends(self) -> np.ndarray:
        idx = np.arange(self.scores.shape[0])
        ends = timegrid.snippet_end(idx, self.metadata.fps, self.metadata.snippet_frames)
        return np.minimum(ends, max(self.metadata.duration, 0.0)) if len(ends) else ends

    def __str__(self) -> str:
        lines = [f"{self.video}: {len(self.segments)} segment(s), "
                 f"{self.metadata.duration:.2f} s, model {self.metadata.model_name or '?'}"
                 + (" (no audio: audio masked)" if self.metadata.audio_missing else "")]
        lines += [f"  {s.start:8.2f} - {s.end:8.2f} s  {s.label:<8}  {s.score:.3f}"
                  for s in self.segments]
        return "\n".join(lines)

    # ---------------------------------------------------------------- exports
    def to_dict(self) -> dict[str, Any]:
        """ActivityNet results dict for this video, plus the ``tsl300`` block."""
        return {
            "version": "VERSION 1.3",
            "results": {self.video_id: [_activitynet_entry(s) for s in self.segments]},
            "external_data": {"used": False, "details": "tsl300 localize"},
            "tsl300": {
                "video": self.video,
                "class_codes": list(CLASS_CODES),
                "scores": self.scores.tolist(),
                "metadata": asdict(self.metadata),
            },
        }

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """ActivityNet-format JSON text; also written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike | dict) -> "LocalizationResult":
        """Read a result written by :meth:`to_json` (a path, JSON text or the parsed dict)."""
        name, data = _load_json_source(source)
        try:
            block = data["tsl300"]
            (vid, entries), = data["results"].items()
            meta = ResultMetadata(**block["metadata"])
            segments = [LocalizedSegment(e["segment"][0], e["segment"][1], e["label"], e["score"])
                        for e in entries]
            scores = np.asarray(block["scores"], dtype=np.float32).reshape(-1, len(SENTIMENTS))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise DataError(f"{name}: not a tsl300 localization result "
                            f"(one video in 'results' and a 'tsl300' block): {exc!r}") from None
        return cls(video=block.get("video", vid), segments=segments, scores=scores, metadata=meta)

    def to_dataframe(self, kind: str = "segments"):
        """``kind="segments"``: one row per segment (video, start, end, label, score);
        ``kind="snippets"``: one row per snippet (start, end, negative, positive scores)."""
        import pandas as pd

        if kind == "segments":
            return pd.DataFrame(
                [(self.video_id, s.start, s.end, s.label, s.score) for s in self.segments],
                columns=list(CSV_COLUMNS))
        if kind == "snippets":
            frame = pd.DataFrame(self.scores.astype(np.float64), columns=list(SENTIMENTS))
            frame.insert(0, "end", self.snippet_ends)
            frame.insert(0, "start", self.snippet_starts)
            return frame
        raise ValueError(f"kind must be 'segments' or 'snippets', got {kind!r}")

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """CSV text ``video,start,end,label,score``; also written to ``path`` when given."""
        return results_to_csv([self], path)

    def to_srt(self, path: str | os.PathLike | None = None) -> str:
        """SubRip subtitles, one cue per segment ("positive (0.87)"); written to ``path`` too."""
        cues = [f"{i}\n{_srt_time(s.start)} --> {_srt_time(s.end)}\n{s.label} ({s.score:.3f})\n"
                for i, s in enumerate(self.segments, start=1)]
        text = "\n".join(cues)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def save_plot(self, path: str | os.PathLike, ground_truth: Iterable[Any] | None = None) -> Path:
        """Timeline PNG: per-class score curves, detected segments, and ground truth if given."""
        from .plotting import plot_timeline

        return plot_timeline(self, path, ground_truth=ground_truth)


CSV_COLUMNS = ("video", "start", "end", "label", "score")


def results_to_csv(results: Sequence[LocalizationResult], path: str | os.PathLike | None = None) -> str:
    """One CSV for several results (one row per segment)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for res in results:
        for s in res.segments:
            writer.writerow([res.video_id, repr(s.start), repr(s.end), s.label, repr(s.score)])
    text = buf.getvalue()
    if path is not None:
        atomic_write_text(path, text)
    return text


def results_to_json(results: Sequence[LocalizationResult], path: str | os.PathLike | None = None) -> str:
    """One ActivityNet results file for several videos (what an evaluator reads)."""
    merged: dict[str, list] = {}
    for res in results:
        if res.video_id in merged:
            raise ValueError(f"two results share the video id {res.video_id!r}")
        merged[res.video_id] = [_activitynet_entry(s) for s in res.segments]
    text = json.dumps({"version": "VERSION 1.3", "results": merged,
                       "external_data": {"used": False, "details": "tsl300 localize"}}, indent=1)
    if path is not None:
        atomic_write_text(path, text)
    return text


def read_csv(path: str | os.PathLike) -> dict[str, list[LocalizedSegment]]:
    """Segments per video id from a file written by :meth:`LocalizationResult.to_csv`."""
    path = Path(path)
    out: dict[str, list[LocalizedSegment]] = {}
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
                raise DataError(f"{path}: expected CSV columns {','.join(CSV_COLUMNS)}, "
                                f"got {reader.fieldnames}")
            for row in reader:
                out.setdefault(row["video"], []).append(LocalizedSegment(
                    float(row["start"]), float(row["end"]), row["label"], float(row["score"])))
    except (ValueError, KeyError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: malformed segment row: {exc}") from None
    return out


_SRT_CUE = re.compile(
    r"(\d+):(\d\d):(\d\d),(\d{3})\s*-->\s*(\d+):(\d\d):(\d\d),(\d{3})\s*\n\s*(\w+) \(([-\d.eE+]+)\)")


def read_srt(path: str | os.PathLike) -> list[LocalizedSegment]:
    """Segments from a file written by :meth:`LocalizationResult.to_srt` (ms precision)."""
    text = Path(path).read_text()
    segments = []
    for m in _SRT_CUE.finditer(text):
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in m.groups()[:8])
        segments.append(LocalizedSegment(h1 * 3600 + m1 * 60 + s1 + ms1 / 1000,
                                         h2 * 3600 + m2 * 60 + s2 + ms2 / 1000,
                                         m.group(9), float(m.group(10))))
    if text.strip() and not segments:
        raise DataError(f"{path}: no subtitle cue of the form 'positive (0.870)' found")
    return segments


def _activitynet_entry(s: LocalizedSegment) -> dict[str, Any]:
    return {"label": s.code, "sentiment": s.label, "score": s.score, "segment": [s.start, s.end]}


def _srt_time(seconds: float) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _load_json_source(source) -> tuple[str, dict]:
    if isinstance(source, dict):
        return "<dict>", source
    text, name = None, "<text>"
    if isinstance(source, (os.PathLike, Path)) or (isinstance(source, str)
                                                   and not source.lstrip().startswith("{")):
        name = str(source)
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise DataError(f"{name}: cannot read result file: {exc.strerror}") from None
    else:
        text = source
    try:
        return name, json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None

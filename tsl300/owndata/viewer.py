"""``tsl300 view``: one self-contained HTML page to look at a localization result.

The page works from ``file://`` with no network: the result is embedded as JSON and the video is
referenced by its path relative to the page (so keep them where they are, or give ``--video``).
It shows the video, a lane per class with the segments (score written on each, and as opacity
relative to the best segment), the per-snippet score curves, the ground truth when given, and
a list of segments; clicking a segment, a list row or a curve seeks the video.
"""
from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from ..classes import CODE_TO_SENTIMENT, SENTIMENTS
from ..data.io import atomic_write_text, read_json
from ..errors import DataError
from ..types import LocalizationResult

SCALE_NOTE = ("Segment score: the proposal's outer-inner contrast (mean class score inside minus around "
              "it, plus a share of the video-level score). Higher means more confident; it is not a "
              "probability and can exceed 1. Opacity shows each score relative to the best segment on "
              "this page. Curves: the per-snippet class scores, each in [0, 1].")


def ground_truth_of(path, vid: str) -> list[dict]:
    """This video's segments from a gt.json (``{"database": {vid: {"annotations": ...}}}``) or an
    ActivityNet results-style file (``{"results": {vid: [...]}}``)."""
    data = read_json(Path(path), "ground truth")
    table = data.get("database") or data.get("results") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise DataError(f"{path}: expected a gt.json with a 'database' (or 'results') object")
    if vid not in table:
        raise DataError(f"{path}: no ground truth for video {vid!r}")
    entry = table[vid]
    items = entry.get("annotations", []) if isinstance(entry, dict) else entry
    out = []
    for item in items:
        start, end = (float(x) for x in item["segment"])
        label = item["label"]
        out.append({"start": start, "end": end, "label": CODE_TO_SENTIMENT.get(label, label)})
    return out


def page_data(result: LocalizationResult, video_src: str, ground_truth: list[dict] | None) -> dict:
    return {
        "video": result.video_id,
        "src": video_src,
        "duration": float(result.metadata.duration),
        "classes": list(SENTIMENTS),
        "segments": [{"start": s.start, "end": s.end, "label": s.label, "score": s.score} for s in result],
        "snippet_starts": [float(x) for x in result.snippet_starts],
        "snippet_ends": [float(x) for x in result.snippet_ends],
        "scores": {name: [float(x) for x in result.scores[:, i]] for i, name in enumerate(SENTIMENTS)},
        "ground_truth": ground_truth,
        "model": result.metadata.model_name,
        "note": SCALE_NOTE,
    }


def render_view(result: LocalizationResult, video_src: str, ground_truth: list[dict] | None = None) -> str:
    """The page's HTML text; ``video_src`` is the URL the ``<video>`` loads (relative to the page)."""
    template = resources.files(__package__).joinpath("viewer.html").read_text(encoding="utf-8")
    data = json.dumps(page_data(result, video_src, ground_truth)).replace("</", "<\\/")
    return (template.replace("__TITLE__", html.escape(result.video_id))
            .replace("__DATA__", data))


def video_url(video: Path, page: Path) -> str:
    """``video`` as a URL relative to the page's folder (works from file:// and when moved together)."""
    rel = os.path.relpath(Path(video).resolve(), Path(page).resolve().parent)
    return quote(Path(rel).as_posix())


def write_view(result, out, video=None, ground_truth=None) -> Path:
    """Write the page for ``result`` (a :class:`LocalizationResult` or its JSON path) to ``out``.
    ``video`` defaults to the result's own video path; ``ground_truth`` is a gt.json path."""
    if not isinstance(result, LocalizationResult):
        result = LocalizationResult.from_json(result)
    video = Path(video or result.video)
    if not video.is_file():
        raise DataError(f"{video}: video not found (give its path with --video)")
    gt = ground_truth_of(ground_truth, result.video_id) if ground_truth else None
    out = Path(out)
    atomic_write_text(out, render_view(result, video_url(video, out), gt))
    return out

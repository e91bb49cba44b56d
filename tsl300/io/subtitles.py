"""Timed text (subtitles, transcripts) -> cues in seconds, and cues -> weights on the snippet grid.

Readers: SubRip ``.srt`` (the ``srt`` package), WebVTT ``.vtt`` (``webvtt-py``), whisper's JSON
(``{"language": "en", "segments": [{"start", "end", "text"}]}``) and a subtitle stream inside the
media file (PyAV). Each file is parsed cue by cue, so one bad cue costs that cue only: bad
timestamps, an end before the start, cues past the video's end (cut, or dropped when they start
after it), overlapping cues (kept; each counts by its own overlap) and a file that is not UTF-8
(read as cp1252) each give a warning naming the file and the cue, never an exception. An empty
or unreadable file is a transcript with no cues and a warning.

Placing cues on the snippet grid is the ``text`` extractor's job (``cue_weights``, through
:mod:`tsl300.timegrid`); this module only reads times and text.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


SUFFIXES = (".json", ".srt", ".vtt")
"""Transcript file types, in the order they are looked for (whisper JSON first)."""

_BLOCK = re.compile(r"\n\s*\n")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


@dataclass(frozen=True)
class Cue:
    """One timed piece of text, seconds from the start of the video."""

    start: float
    end: float
    text: str
    number: int = 0
    """Position in its file (1-based; 0: not from a file), for warnings."""


@dataclass
class Transcript:
    """The cues of one file, its language when the file names one, and what was wrong with it."""

    cues: list[Cue]
    source: str
    language: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(c.text.strip() for c in self.cues)


def _decode(path: Path, warnings: list[str]) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        warnings.append(f"{path}: not UTF-8 (byte {exc.start}); read as cp1252")
        return raw.decode("cp1252", errors="replace")


def _clean(text: str) -> str:
    """Markup (``<i>``, ``{\\an8}``) removed, whitespace collapsed."""
    return " ".join(_TAG.sub(" ", text).split())


def _timing_line(block: str) -> str:
    """The line of a cue block that names it best in a warning: its timing line, else its first."""
    lines = block.strip().splitlines()
    return next((line for line in lines if "-->" in line), lines[0])[:60]


def _srt_cues(path: Path, text: str, warnings: list[str]) -> list[Cue]:
    import srt

    cues = []
    for number, block in enumerate(_BLOCK.split(text.replace("\r\n", "\n").strip()), 1):
        if not block.strip():
            continue
        try:
            parsed = list(srt.parse(block + "\n\n"))
        except (srt.SRTParseError, ValueError) as exc:
            first = _timing_line(block)
            warnings.append(f"{path}: cue {number} ({first!r}) skipped: unreadable ({type(exc).__name__})")
            continue
        cues.extend(Cue(s.start.total_seconds(), s.end.total_seconds(), _clean(s.content), number)
                    for s in parsed)
    return cues


def _seconds(timestamp) -> float:
    ms = timestamp.in_milliseconds
    return (ms() if callable(ms) else ms) / 1000.0


def _vtt_cues(path: Path, text: str, warnings: list[str]) -> list[Cue]:
    import webvtt

    blocks = _BLOCK.split(text.replace("\r\n", "\n").strip())
    if not blocks or not blocks[0].lstrip().startswith("WEBVTT"):
        warnings.append(f"{path}: no WEBVTT header; read as WebVTT anyway")
    else:
        blocks = blocks[1:]
    cues = []
    for number, block in enumerate(blocks, 1):
        if "-->" not in block:  # NOTE, STYLE, REGION blocks
            continue
        try:
            parsed = webvtt.from_string("WEBVTT\n\n" + block + "\n").captions
        except Exception as exc:  # webvtt-py raises several error types for one bad cue
            parsed, reason = [], type(exc).__name__
        else:
            reason = "bad timing line"  # webvtt-py drops a cue it cannot time without an error
        if not parsed:
            warnings.append(f"{path}: cue {number} ({_timing_line(block)!r}) skipped: unreadable ({reason})")
            continue
        cues.extend(Cue(_seconds(c.start_time), _seconds(c.end_time), _clean(c.text), number) for c in parsed)
    return cues


def _whisper_cues(path: Path, text: str, warnings: list[str]) -> tuple[list[Cue], str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.append(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); no cues read")
        return [], None
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        warnings.append(f"{path}: no 'segments' list (whisper JSON expected); no cues read")
        return [], None
    cues = []
    for number, seg in enumerate(segments, 1):
        try:
            start, end = float(seg["start"]), float(seg["end"])
            if isinstance(seg["start"], bool) or isinstance(seg["end"], bool):
                raise TypeError("boolean time")
            cues.append(Cue(start, end, _clean(str(seg.get("text", ""))), number))
        except (KeyError, TypeError, ValueError) as exc:
            warnings.append(f"{path}: segment {number} skipped: bad start/end ({exc})")
    language = data.get("language") if isinstance(data.get("language"), str) else None
    return cues, language


def check_cues(cues: list[Cue], source: str, duration: float | None, warnings: list[str]) -> list[Cue]:
    """Drop cues with non-finite or reversed times, cut cues at ``duration``; warn on each, and on
    overlaps (kept: two speakers can talk at once)."""
    kept: list[Cue] = []
    for number, cue in enumerate(cues, 1):
        name = f"{source}: cue {cue.number or number} ({cue.text[:40]!r})"
        if not (np.isfinite(cue.start) and np.isfinite(cue.end)) or cue.start < 0:
            warnings.append(f"{name} skipped: bad time {cue.start}..{cue.end}")
            continue
        if cue.end <= cue.start:
            warnings.append(f"{name} skipped: ends at {cue.end:.3f} s, not after its start {cue.start:.3f} s")
            continue
        if duration is not None and cue.start >= duration:
            warnings.append(f"{name} skipped: starts at {cue.start:.3f} s, after the video's end ({duration:.3f} s)")
            continue
        if duration is not None and cue.end > duration:
            warnings.append(f"{name} cut at the video's end ({cue.end:.3f} s > {duration:.3f} s)")
            cue = Cue(cue.start, duration, cue.text, cue.number)
        kept.append(cue)
    ordered = sorted(kept, key=lambda c: c.start)
    latest = -np.inf
    for cue in ordered:
        if cue.start < latest:
            warnings.append(f"{source}: cue {cue.number} at {cue.start:.3f} s ({cue.text[:40]!r}) overlaps the "
                            "one before (kept)")
        latest = max(latest, cue.end)
    return ordered


def read_transcript(path: str | Path, duration: float | None = None) -> Transcript:
    """Cues of an ``.srt``, ``.vtt`` or whisper ``.json`` file (by suffix), checked against
    ``duration`` (seconds; None: not checked). Never raises for bad content; see ``warnings``."""
    path = Path(path)
    warnings: list[str] = []
    try:
        text = _decode(path, warnings)
    except OSError as exc:
        return Transcript([], str(path), None, [f"{path}: cannot read ({exc.strerror or exc})"])
    if not text.strip():
        return Transcript([], str(path), None, [f"{path}: empty file; no cues"])
    language = None
    suffix = path.suffix.lower()
    if suffix == ".json":
        cues, language = _whisper_cues(path, text, warnings)
    elif suffix == ".vtt" or text.lstrip().startswith("WEBVTT"):
        cues = _vtt_cues(path, text, warnings)
    else:
        cues = _srt_cues(path, text, warnings)
    cues = check_cues(cues, str(path), duration, warnings)
    if not cues:
        warnings.append(f"{path}: no readable cues")
    return Transcript(cues, str(path), language, warnings)


def find_transcript(video: str | Path, transcripts: str | Path | None = None) -> Path | None:
    """The transcript of ``video``: ``transcripts/STEM{.json,.srt,.vtt}`` first, then a sidecar
    next to the video (``STEM.srt``, ``STEM.vtt``, then ``STEM.LANG.srt/.vtt``)."""
    video = Path(video)
    folders = ([Path(transcripts)] if transcripts else []) + [video.parent]
    for k, folder in enumerate(folders):
        suffixes = SUFFIXES if (transcripts and k == 0) else SUFFIXES[1:]
        for suffix in suffixes:
            candidate = folder / f"{video.stem}{suffix}"
            if candidate.is_file():
                return candidate
    for suffix in SUFFIXES[1:]:
        tagged = sorted(video.parent.glob(f"{glob_escape(video.stem)}.*{suffix}"))
        if tagged:
            return tagged[0]
    return None


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def read_embedded(video: str | Path, duration: float | None = None) -> Transcript | None:
    """Cues of the first text subtitle stream inside ``video`` (PyAV), or None when there is none."""
    import av

    from ..errors import MediaError
    from ._container import open_container

    warnings: list[str] = []
    cues: list[Cue] = []
    try:
        with open_container(video) as container:
            if not container.streams.subtitles:
                return None
            stream = container.streams.subtitles[0]
            language = stream.metadata.get("language")
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                start = float(packet.pts * stream.time_base)
                end = start + float((packet.duration or 0) * stream.time_base)
                for subtitle in packet.decode():
                    # PyAV >= 14 yields the rectangles themselves, older versions SubtitleSets of them
                    for rect in (subtitle.rects if hasattr(subtitle, "rects") else (subtitle,)):
                        text = _rect_text(rect)
                        if text:
                            cues.append(Cue(start, end, text, len(cues) + 1))
    except (MediaError, av.error.FFmpegError, OSError, ValueError) as exc:
        return Transcript([], f"{video}#subtitles", None, [f"{video}: subtitle stream unreadable ({exc})"])
    source = f"{video}#subtitles"
    return Transcript(check_cues(cues, source, duration, warnings), source,
                      language if language and language != "und" else None, warnings)


def _rect_text(rect) -> str:
    """Plain text of one decoded subtitle rectangle: ``dialogue`` (PyAV's text of an ASS event),
    else the ASS event's text field (after 8 commas), else ``text``; bitmaps give ''."""
    dialogue = getattr(rect, "dialogue", None)
    ass = getattr(rect, "ass", None)
    if dialogue:
        text = dialogue
    elif ass:
        text = (ass.decode("utf-8", errors="replace") if isinstance(ass, bytes) else ass).split(",", 8)[-1]
    else:
        text = getattr(rect, "text", None) or ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _clean(text.replace("\\N", " ").replace("\\n", " "))

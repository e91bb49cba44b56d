"""Speech gate: audio evidence counts only where someone speaks.

An audio sentiment model scores any sound; music, noise and silence get scores too, and the
post-processing turns them into segments. The ``speech_activity`` extractor (Silero VAD) says
per snippet how much of it is speech; here a snippet is speech when at least
:data:`SPEECH_FRACTION` of it is, the per-snippet class scores are zeroed elsewhere, and a
segment is kept only when at least :data:`MIN_SEGMENT_SPEECH` of its snippets are speech.
Measured effect (``recipes/default/README.md``): false-positive segment-minutes per hour on
neutral speech, music and silence.
"""
from __future__ import annotations

import numpy as np

from .timegrid import SNIPPET_FRAMES, seconds_to_snippet

MODALITY = "speech_activity"
SPEECH_FRACTION = 0.5
"""A snippet is speech when at least this fraction of its 32 ms VAD chunks are speech."""
MIN_SEGMENT_SPEECH = 0.5
"""A segment survives the gate when at least this fraction of its snippets are speech."""
NO_SPEECH_WARNING = "no speech found"
NO_SPEECH_OR_FACE_WARNING = "no speech and no face found: nothing here to judge"


def speech_mask(activity: np.ndarray) -> np.ndarray:
    """(T,) bool from ``speech_activity`` features (T, 2): column 1 is the speech fraction."""
    activity = np.asarray(activity, np.float64).reshape(len(activity), -1)
    return activity[:, -1] >= SPEECH_FRACTION


def gate_scores(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-snippet class scores (T, C) with non-speech rows set to 0."""
    scores = np.asarray(scores)
    n = min(len(scores), len(mask))
    out = np.zeros_like(scores)
    out[:n] = scores[:n] * mask[:n, None]
    return out


def segment_speech(start: float, end: float, mask: np.ndarray, fps: float,
                   snippet_frames: int = SNIPPET_FRAMES) -> float:
    """Fraction of the snippets a segment spans that are speech (0 for an empty mask)."""
    if not len(mask):
        return 0.0
    first = int(np.clip(seconds_to_snippet(start, fps, snippet_frames), 0, len(mask) - 1))
    last = int(np.clip(seconds_to_snippet(max(start, end - 1e-6), fps, snippet_frames), first, len(mask) - 1))
    return float(np.mean(mask[first:last + 1]))


def gate_segments(segments, mask: np.ndarray, fps: float, snippet_frames: int = SNIPPET_FRAMES) -> list:
    """The segments (anything with ``start``/``end``) that are mostly speech."""
    return [s for s in segments
            if segment_speech(s.start, s.end, mask, fps, snippet_frames) >= MIN_SEGMENT_SPEECH]

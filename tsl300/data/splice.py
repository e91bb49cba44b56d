"""Untrimmed training streams spliced from one speaker's acted emotional clips.

Real sentiment-localization videos cannot ship, but acted emotional speech can be spliced into
untrimmed streams with exact ground truth: the clips of ONE speaker are laid end to end, the
speaker's neutral clips (cropped and looped to a random length) fill the gaps as background,
and every emotional clip becomes one ground-truth segment. Times come from **audio sample
counts** (not container durations), and each stream is decoded and re-encoded in one pass with
PyAV, so the file's audio holds exactly the samples the segments were computed from.

Polarity (``../shared/media/README.md``): positive = happiness; negative = anger, sadness,
fear, disgust; neutral = background; EmoDB boredom (L) is ambiguous and left out. For an
audio-only source the video track is a still black frame, so the visual extractor runs but
sees nothing; models trained on such streams learn from audio alone there.

Example::

    source = crema_d_speaker("../shared/media/clips", "1001")
    clips = decode_source(source)
    stream = splice_stream(clips, "out/s0.mp4", rng=np.random.default_rng(0))
    stream.segments   # [Segment(start=3.21, end=5.48, label='n'), ...]
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import MediaError
from ..io import open_local
from .types import Segment

BACKGROUND = "background"

CREMA_D_POLARITY = {"HAP": "p", "ANG": "n", "SAD": "n", "FEA": "n", "DIS": "n", "NEU": BACKGROUND}
"""CREMA-D emotion code -> TSL-300 class ('p'/'n') or background."""
EMODB_POLARITY = {"F": "p", "W": "n", "T": "n", "A": "n", "E": "n", "N": BACKGROUND}
"""EmoDB emotion letter (6th character of the name) -> class; boredom (L) is left out."""

STILL_FPS = Fraction(25)
"""Frame rate of the synthesised still video track of an audio-only source."""
STILL_SIZE = (320, 240)


@dataclass(frozen=True)
class SourceClip:
    """One acted utterance: its file, emotion code and role ('p', 'n' or 'background')."""

    path: Path
    emotion: str
    role: str


@dataclass(frozen=True)
class SpeakerSource:
    """All usable clips of one speaker of one corpus."""

    name: str
    clips: tuple[SourceClip, ...]
    ship_ok: bool
    licence: str

    def roles(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for clip in self.clips:
            out[clip.role] = out.get(clip.role, 0) + 1
        return out


def crema_d_speaker(folder: str | Path, actor: str) -> SpeakerSource:
    """CREMA-D clips ``{actor}_*_{EMO}_*.{flv,mp3,wav,mp4}`` of one actor in ``folder``."""
    pattern = re.compile(rf"^{re.escape(actor)}_[A-Z]+_([A-Z]{{3}})_[A-Z]+\.(flv|mp3|wav|mp4)$")
    return _speaker(folder, pattern, CREMA_D_POLARITY, f"crema_d_{actor}", ship_ok=True,
                    licence="ODbL-1.0 / DbCL-1.0 (CREMA-D)")


def emodb_speaker(folder: str | Path, speaker: str = "03") -> SpeakerSource:
    """EmoDB utterances ``{speaker}{text}{emotion}{version}.wav`` of one speaker in ``folder``."""
    pattern = re.compile(rf"^{re.escape(speaker)}[ab]\d\d([A-Z])[a-z]\.wav$")
    return _speaker(folder, pattern, EMODB_POLARITY, f"emodb_{speaker}", ship_ok=False,
                    licence="EmoDB: free for research use only")


def _speaker(folder: str | Path, pattern: re.Pattern, polarity: dict[str, str], name: str,
             ship_ok: bool, licence: str) -> SpeakerSource:
    """The files of ``folder`` whose name matches ``pattern`` (group 1: an emotion code of
    ``polarity``), as a :class:`SpeakerSource`; a :class:`MediaError` if it lacks clips of a role."""
    clips = []
    for path in sorted(Path(folder).iterdir()):
        m = pattern.match(path.name)
        if m and m.group(1) in polarity:
            clips.append(SourceClip(path, m.group(1), polarity[m.group(1)]))
    source = SpeakerSource(name, tuple(clips), ship_ok=ship_ok, licence=licence)
    roles = source.roles()
    missing = [r for r in ("p", "n", BACKGROUND) if not roles.get(r)]
    if missing:
        raise MediaError(f"{folder}: speaker source {source.name} has no {missing} clips "
                         f"(found {roles})")
    return source


@dataclass
class DecodedClip:
    """A clip in memory: mono float32 audio at ``sample_rate`` and, for video clips, its frames
    as yuv420p arrays at native ``fps`` (``frames`` is None for audio-only clips)."""

    clip: SourceClip
    audio: np.ndarray
    sample_rate: int
    frames: list[np.ndarray] | None = None
    fps: Fraction | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def decode_clip(clip: SourceClip, sample_rate: int) -> DecodedClip:
    """Decode one clip's audio (resampled to mono ``sample_rate``) and video frames."""
    try:
        container = open_local(clip.path)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{clip.path}: cannot open ({exc})") from None
    with container:
        if not container.streams.audio:
            raise MediaError(f"{clip.path}: no audio stream; splicing needs the speech track")
        streams = [container.streams.audio[0]] + list(container.streams.video[:1])
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        audio, frames = [], []
        for frame in container.decode(*streams):
            if isinstance(frame, av.AudioFrame):
                audio += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            else:
                frames.append(frame.to_ndarray(format="yuv420p"))
        audio += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        fps = None
        if container.streams.video:
            rate = container.streams.video[0].average_rate or container.streams.video[0].guessed_rate
            fps = Fraction(rate).limit_denominator(1001)
    if not audio or not sum(len(a) for a in audio):
        raise MediaError(f"{clip.path}: the audio track decodes to no samples")
    return DecodedClip(clip, np.concatenate(audio).astype(np.float32), sample_rate,
                       frames or None, fps if frames else None)


def decode_source(source: SpeakerSource, sample_rate: int | None = None) -> list[DecodedClip]:
    """Decode every clip of a speaker at one sample rate (default: the first clip's)."""
    if sample_rate is None:
        with open_local(source.clips[0].path) as c:
            sample_rate = int(c.streams.audio[0].rate)
    return [decode_clip(c, sample_rate) for c in source.clips]


@dataclass(frozen=True)
class Piece:
    """Samples ``[offset, offset + length)`` of decoded clip ``clip`` placed in a stream."""

    clip: int
    offset: int
    length: int
    role: str


@dataclass
class SplicedStream:
    """A written stream: its file, frame rate, exact duration and ground-truth segments."""

    path: Path
    fps: float
    duration: float
    sample_rate: int
    n_samples: int
    n_frames: int
    segments: list[Segment]
    pieces: list[Piece] = field(default_factory=list)
    synthetic_video: bool = False
    source_clips: list[str] = field(default_factory=list)


def plan_stream(clips: list[DecodedClip], rng: np.random.Generator, n_emotional: tuple[int, int] = (2, 5),
                background_seconds: tuple[float, float] = (1.0, 5.0)) -> list[Piece]:
    """Background, emotional clip, background, ... with a random order and random gap lengths.

    Emotional clips are drawn without replacement while the speaker has enough, so one stream
    never repeats an utterance unless ``n_emotional`` asks for more than there are; at least one
    clip of each polarity is included when the draw allows it. Each gap is a random crop of the
    speaker's neutral clips, looped when the gap is longer than one clip.
    """
    emotional = [i for i, c in enumerate(clips) if c.clip.role != BACKGROUND]
    background = [i for i, c in enumerate(clips) if c.clip.role == BACKGROUND]
    if not emotional or not background:
        raise ValueError("a stream needs emotional and neutral (background) clips")
    lo, hi = n_emotional
    count = int(rng.integers(lo, hi + 1))
    order = list(rng.permutation(emotional))
    while len(order) < count:
        order += list(rng.permutation(emotional))
    chosen = order[:count]
    for role in ("p", "n"):  # make both classes appear when possible (video-level labels)
        have = [i for i in chosen if clips[i].clip.role == role]
        pool = [i for i in emotional if clips[i].clip.role == role and i not in chosen]
        if not have and pool and count >= 2:
            others = [k for k, i in enumerate(chosen)
                      if sum(clips[j].clip.role == clips[i].clip.role for j in chosen) > 1]
            if others:
                chosen[others[int(rng.integers(len(others)))]] = pool[int(rng.integers(len(pool)))]
    pieces: list[Piece] = []
    for index in chosen:
        pieces += _background(clips, background, rng, background_seconds)
        pieces.append(Piece(int(index), 0, len(clips[index].audio), clips[index].clip.role))
    pieces += _background(clips, background, rng, background_seconds)
    return pieces


def _background(clips, background, rng, seconds_range) -> list[Piece]:
    sr = clips[background[0]].sample_rate
    need = int(round(rng.uniform(*seconds_range) * sr))
    pieces = []
    while need > 0:
        i = background[int(rng.integers(len(background)))]
        total = len(clips[i].audio)
        length = min(need, total)
        offset = int(rng.integers(0, total - length + 1))
        pieces.append(Piece(i, offset, length, BACKGROUND))
        need -= length
    return pieces


def splice_stream(clips: list[DecodedClip], out_path: str | Path, rng: np.random.Generator | None = None,
                  pieces: list[Piece] | None = None, crf: int = 30, **plan_kwargs) -> SplicedStream:
    """Plan (unless ``pieces`` is given) and write one stream; returns its ground truth."""
    if pieces is None:
        pieces = plan_stream(clips, rng if rng is not None else np.random.default_rng(), **plan_kwargs)
    rates = {c.sample_rate for c in clips}
    if len(rates) != 1:
        raise ValueError(f"clips of one stream must share a sample rate, got {sorted(rates)}")
    sr = rates.pop()
    audio = np.concatenate([clips[p.clip].audio[p.offset:p.offset + p.length] for p in pieces])
    bounds = np.concatenate([[0], np.cumsum([p.length for p in pieces])])
    segments = [Segment(float(bounds[k] / sr), float(bounds[k + 1] / sr), p.role)
                for k, p in enumerate(pieces) if p.role != BACKGROUND]

    video_clips = [c for c in clips if c.frames is not None]
    synthetic = not video_clips
    fps = STILL_FPS if synthetic else video_clips[0].fps
    n_frames = int(math.ceil(len(audio) / sr * fps))
    frame_source = _frame_sources(clips, pieces, bounds, sr, fps, n_frames)
    out_path = Path(out_path)
    _encode(out_path, audio, sr, fps, frame_source, clips, crf)
    return SplicedStream(out_path, float(fps), float(len(audio) / sr), sr, len(audio), n_frames, segments,
                         pieces, synthetic, [clips[p.clip].clip.path.name for p in pieces])


def _frame_sources(clips, pieces, bounds, sr, fps, n_frames) -> list[tuple[int, int]]:
    """For each output frame, (clip index, frame index) shown at its time; (-1, -1) = still."""
    times = np.arange(n_frames) / float(fps)
    k = np.clip(np.searchsorted(bounds, times * sr, side="right") - 1, 0, len(pieces) - 1)
    clip = np.array([p.clip for p in pieces])[k]
    offset = np.array([p.offset for p in pieces])[k]
    local = (offset + (times * sr - bounds[k])) / sr  # seconds into the source clip
    has_video = np.array([c.frames is not None for c in clips])[clip]
    clip_fps = np.array([float(c.fps) if c.frames is not None else 0.0 for c in clips])[clip]
    last = np.array([len(c.frames) - 1 if c.frames is not None else 0 for c in clips])[clip]
    frame = np.minimum((local * clip_fps).astype(np.int64), last)
    clip, frame = np.where(has_video, clip, -1), np.where(has_video, frame, -1)
    return list(zip(clip.tolist(), frame.tolist()))


def _encode(path: Path, audio: np.ndarray, sr: int, fps: Fraction, frame_source, clips, crf: int) -> None:
    """H.264 + AAC mp4 in one pass, written to a temp name and renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    shapes = {c.frames[0].shape for c in clips if c.frames is not None}
    if len(shapes) > 1:
        raise ValueError(f"video clips of one stream differ in size: {sorted(shapes)}")
    if shapes:
        h2, w = shapes.pop()
        width, height = w, h2 * 2 // 3
    else:
        width, height = STILL_SIZE
    still = np.zeros((height * 3 // 2, width), dtype=np.uint8)
    still[:height] = 16  # black in limited-range YUV
    still[height:] = 128
    try:
        with open_local(tmp, "w", format="mp4") as out:
            vstream = out.add_stream("libx264", rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.options = {"crf": str(crf), "preset": "veryfast"}
            astream = out.add_stream("aac", rate=sr)
            astream.layout = "mono"
            astream.bit_rate = 64000
            for k, (ci, fi) in enumerate(frame_source):
                data = still if ci < 0 else clips[ci].frames[fi]
                frame = av.VideoFrame.from_ndarray(data, format="yuv420p")
                frame.pts = k
                frame.time_base = Fraction(1) / fps
                out.mux(vstream.encode(frame))
            out.mux(vstream.encode(None))
            step = 1024
            for start in range(0, len(audio), step):
                chunk = audio[start:start + step].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
                frame.sample_rate = sr
                frame.pts = start
                frame.time_base = Fraction(1, sr)
                out.mux(astream.encode(frame))
            out.mux(astream.encode(None))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

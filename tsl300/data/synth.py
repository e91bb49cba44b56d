"""Synthetic datasets in the TSL-300 layout, with the statistics of the real annotations.

Why: the TSL-300 features are not public, yet every method, test, demo and benchmark needs
data with the right shapes, time grid, annotation files and a learnable signal.

How a video is made (all numpy, vectorised over snippets; one RNG stream per video, so the
output depends only on ``seed`` and the parameters, byte for byte):

1. **Template.** Each synthetic video copies a real TSL-300 video of the same split (from the
   annotations shipped in the package): its fps, its duration and its ordered list of
   segments (label, length). So segments per video, lengths per class, class mix, fps and
   durations follow the real data. ``snippets_mean`` rescales durations and lengths.
2. **Placement.** The segments keep their order and get random non-overlapping positions.
3. **Evidence.** Each segment carries its class in *all* modalities (``p_all``) or in exactly
   one, at full or *weak* strength (``p_weak``); its profile over snippets is the overlap of
   each snippet with the segment, so boundaries are soft. Evidence lives on fixed
   per-modality class patterns (sparse non-negative in ``rgb``, band bumps in ``logmfcc``).
4. **Background.** Shots (piecewise-constant scene embeddings), a slowly varying class-agnostic
   "arousal" level that is raised inside segments, one-modality *distractor* bursts of class
   pattern outside segments, and noise. A model using one modality misses the segments
   carried by the other and is fooled by its distractors; both together do best.
5. **Points.** Three simulated annotators with different recall, spread and start/stop widths
   (like ``point_anno_{0,1,2}``: 2.2 / 8.8 / 54.8 frames), false alarms outside segments and a
   few class flips, tuned so about half of the points fall inside a same-class segment as in
   the real files (57 %). ``point_labels.csv`` is the official seeded draw among them.

Feature files: ``rgb`` (T, 1024) float32 >= 0 (I3D-like), ``logmfcc`` (N_mel, 60) float32 in
dB within [max - 80, max] like ``power_to_db(top_db=80)``, with N_mel = 1 + duration*sr//1024 for
the official sample rate, so the official ``T = min(T_rgb, N_mel // 32)`` truncation happens as on
real data. Other modalities (``name:dim``) are dense Gaussian features and make the dataset a
generic-layout one with a ``spec.json`` per modality.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from ..classes import CLASS_CODES
from ..timegrid import (MEL_FRAMES_PER_SNIPPET, SNIPPET_FRAMES, num_snippets, snippet_seconds,
                        snippet_start)
from .annotations import parse_ground_truth
from .io import atomic_write_json, read_json_mapping, read_split
from .layout import (gt_database, points_table, write_annotator_files, write_features, write_gt,
                     write_json_dict, write_point_labels, write_spec, write_split)
from .points import select_points
from .resources import tsl300_annotations
from .types import Segment

GENERATOR_VERSION = "1.0"
MIN_SNIPPETS = 8
"""Shortest video made (the official code needs T >= 8)."""
TSL300_DIMS = {"rgb": 1024, "logmfcc": 60}


@dataclass(frozen=True)
class Annotator:
    """A simulated point annotator."""

    recall: float          # probability that a segment gets points
    extra_points: float    # mean number of additional points on a marked segment (Poisson)
    spread: float          # std of the point's offset, as a fraction of the segment length
    false_per_min: float   # false alarms per minute of (template) video, outside segments
    width_frames: float    # mean stop_frame - start_frame
    flip: float = 0.03     # probability of the wrong class


DEFAULT_ANNOTATORS = (
    Annotator(recall=0.74, extra_points=0.15, spread=0.30, false_per_min=0.52, width_frames=2.2),
    Annotator(recall=0.66, extra_points=0.10, spread=0.30, false_per_min=0.45, width_frames=8.8),
    Annotator(recall=0.45, extra_points=0.05, spread=0.35, false_per_min=0.38, width_frames=54.8),
)


@dataclass
class SynthConfig:
    """Parameters of :func:`generate` (all recorded in ``synthetic_meta.json``)."""

    n_train: int = 200
    n_test: int = 100
    seed: int = 0
    modalities: dict[str, int] = field(default_factory=lambda: dict(TSL300_DIMS))
    snippets_mean: float | None = None   # None: real durations (about 457 snippets per video)
    p_all: float = 0.4                   # segment carried by every modality
    p_weak: float = 0.25                 # segment at weak strength
    weak_strength: float = 0.35
    distractors_per_min: float = 1.5     # one-modality class bursts outside segments
    distractor_strength: float = 0.5
    rgb_gain: float = 0.18               # rgb shift on the class pattern at full strength
    logmel_gain_db: float = 8.0          # log-mel boost of the class bands at full strength
    dense_gain: float = 0.6              # generic dense modalities
    noise: float = 0.3                   # rgb / dense noise std (log-mel: 3 dB)
    shot_seconds: float = 8.0            # mean shot length of the background (scaled like durations)
    annotators: tuple[Annotator, ...] = DEFAULT_ANNOTATORS
    templates: str | None = None         # dataset folder with the real annotations (default: shipped)


# --------------------------------------------------------------------------- templates

@dataclass
class _Template:
    vid: str
    fps: float
    duration: float
    labels: list[str]
    lengths: np.ndarray


def _load_templates(root: Path) -> dict[str, list[_Template]]:
    gt = parse_ground_truth(root / "videosenti_gt.json", CLASS_CODES)
    fps = read_json_mapping(root / "fps_dict.json", "fps per video")
    dur = read_json_mapping(root / "len_duration_dict.json", "durations")
    out = {}
    for split in ("train", "test"):
        out[split] = [_Template(v, fps[v], dur[v], [s.label for s in gt[v]],
                                np.array([s.end - s.start for s in gt[v]])) for v in read_split(root / f"split_{split}.txt")]
    return out


def official_logmel_frames(duration: float, fps: float) -> int:
    """Mel frames the official audio script yields: sr = int(fps / 19.9167 * 40812.26), hop 1024,
    centred frames (librosa default) -> 1 + samples // 1024."""
    sr = int(fps / 19.9167 * 40812.26)
    return 1 + int(duration * sr) // 1024


# --------------------------------------------------------------------------- patterns

def _class_patterns(rng: np.random.Generator, modalities: dict[str, int], n_classes: int) -> dict[str, dict]:
    """Fixed per-dataset directions: class patterns, background basis, arousal direction."""
    patterns = {}
    for name, dim in modalities.items():
        kind = _kind(name)
        if kind == "logmel":
            bands = np.arange(dim)[None, :]
            zones = rng.permutation(3 * n_classes).reshape(n_classes, 3)  # disjoint band zones per class
            centres = (zones + rng.uniform(0.3, 0.7, size=zones.shape)) * dim / (3 * n_classes)
            cls = np.exp(-0.5 * ((bands[:, None, :] - centres[:, :, None]) / (dim / 20)) ** 2).sum(1)
            cls /= cls.max(axis=1, keepdims=True)
            basis = rng.standard_normal((8, dim)).cumsum(axis=1) / np.sqrt(dim)  # smooth band shapes
            arousal = np.linspace(1.0, 0.3, dim)
        else:
            k = max(4, dim // 20)
            cls = np.zeros((n_classes, dim))
            for c in range(n_classes):
                cls[c, rng.choice(dim, size=k, replace=False)] = 1.0
            if kind == "dense":
                cls = cls * rng.choice([-1.0, 1.0], size=cls.shape)
            basis = rng.standard_normal((8, dim)) / np.sqrt(8)
            arousal = rng.uniform(0, 1, size=dim)
            arousal /= np.linalg.norm(arousal) / np.sqrt(dim / 4)
        patterns[name] = {"cls": cls.astype(np.float32), "basis": basis.astype(np.float32),
                          "arousal": arousal.astype(np.float32)}
    return patterns


def class_patterns(seed: int, modalities: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The per-modality class patterns (C, D) a synthetic dataset made with ``seed`` uses, for
    diagnostics and tests: the evidence of class c in modality m is added along ``[m][c]``."""
    modalities = dict(TSL300_DIMS) if modalities is None else modalities
    patterns = _class_patterns(np.random.default_rng([seed, 0]), modalities, len(CLASS_CODES))
    return {name: p["cls"] for name, p in patterns.items()}


def _kind(name: str) -> str:
    return {"rgb": "i3d", "logmfcc": "logmel"}.get(name, "dense")


# --------------------------------------------------------------------------- one video

def _place_segments(rng, labels, lengths, span, min_len):
    """Non-overlapping [start, end) in [0, span), order kept; drops segments that do not fit."""
    lengths = np.maximum(np.asarray(lengths, float), min_len)
    keep = np.ones(len(lengths), bool)
    while keep.any() and lengths[keep].sum() > 0.7 * span:
        keep[rng.choice(np.flatnonzero(keep))] = False
    labels = [lab for lab, k in zip(labels, keep) if k]
    lengths = lengths[keep]
    free = span - lengths.sum()
    gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * free
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    return labels, starts, starts + lengths


def _overlap(starts, ends, T, fps):
    """(S, T) fraction of each snippet covered by each segment."""
    snip = snippet_seconds(fps)
    t0 = np.arange(T) * snip
    lo = np.maximum(starts[:, None], t0[None, :])
    hi = np.minimum(ends[:, None], t0[None, :] + snip)
    return np.clip(hi - lo, 0, None) / snip


def _smooth_noise(rng, T, corr):
    """AR(1) series of unit variance with correlation ``corr`` between snippets (via lfilter)."""
    x = rng.standard_normal(T)
    return lfilter([math.sqrt(1 - corr ** 2)], [1, -corr], x)


def _make_video(cfg: SynthConfig, k: int, template: _Template, scale: float, patterns: dict):
    rng = np.random.default_rng([cfg.seed, 1, k])
    fps = template.fps
    snip = snippet_seconds(fps)
    # at least MIN_SNIPPETS full snippets after the official truncation (one more for the cut)
    duration = max(template.duration * scale * rng.uniform(0.9, 1.1), (MIN_SNIPPETS + 1.5) * snip)
    n_frames = int(duration * fps)
    t_rgb = num_snippets(n_frames)
    n_mel = official_logmel_frames(duration, fps)
    T = min(t_rgb, n_mel // MEL_FRAMES_PER_SNIPPET) if "logmfcc" in cfg.modalities else t_rgb
    span = T * snip
    labels, starts, ends = _place_segments(rng, template.labels, template.lengths * scale, span, 2 * snip)
    S, M, C = len(labels), len(cfg.modalities), len(CLASS_CODES)
    names = list(cfg.modalities)
    cls_idx = np.array([CLASS_CODES.index(lab) for lab in labels], dtype=np.int64)

    # which modalities carry each segment, and how strongly
    carries = np.zeros((S, M), bool)
    all_mod = rng.random(S) < cfg.p_all
    carries[all_mod] = True
    one = rng.integers(0, M, size=S)
    carries[np.flatnonzero(~all_mod), one[~all_mod]] = True
    strength = np.where(rng.random(S) < cfg.p_weak, cfg.weak_strength, 1.0)

    overlap = _overlap(starts, ends, T, fps)                         # (S, T)
    onehot = np.eye(C)[cls_idx]                                      # (S, C)
    in_segment = overlap.sum(0).clip(0, 1)                           # (T,)

    # one-modality distractor bursts outside the segments
    n_dis = rng.poisson(cfg.distractors_per_min * template.duration / 60)
    d_len = np.maximum(rng.uniform(1.0, 4.0, n_dis) * scale, 2 * snip)
    d_start = rng.uniform(0, max(span - d_len.max(initial=0), 0), n_dis)
    d_overlap = _overlap(d_start, d_start + d_len, T, fps) * (1 - in_segment)[None, :]
    d_cls = np.eye(C)[rng.integers(0, C, n_dis)]
    d_mod = rng.integers(0, M, n_dis)

    # class-agnostic background: shots and arousal (raised inside segments)
    n_shots = max(1, rng.poisson(span / (cfg.shot_seconds * scale)))
    cuts = np.sort(rng.uniform(0, span, n_shots - 1))
    shot_of = np.searchsorted(cuts, (np.arange(T) + 0.5) * snip)
    scene = rng.standard_normal((n_shots, 8)).astype(np.float32)[shot_of]          # (T, 8)
    arousal = (0.5 * _smooth_noise(rng, T, 0.95) + 0.8 * in_segment).astype(np.float32)

    features = {}
    for m, name in enumerate(names):
        jitter = 0.75 + 0.25 * rng.random((S, T))
        ev = ((overlap * jitter * (strength * carries[:, m])[:, None]).T @ onehot)      # (T, C)
        ev += (d_overlap * (d_mod == m)[:, None]).T @ d_cls * cfg.distractor_strength
        pat = patterns[name]
        kind = _kind(name)
        if kind == "logmel":
            features[name] = _logmel(rng, ev, scene, arousal, pat, n_mel, cfg)
        else:
            gain = cfg.rgb_gain if kind == "i3d" else cfg.dense_gain
            # one matmul of the latent factors [scene | arousal | class evidence] onto their patterns
            latent = np.concatenate([0.1 * scene, 0.15 * arousal[:, None], gain * ev], axis=1)
            loadings = np.concatenate([pat["basis"], pat["arousal"][None, :], pat["cls"]], axis=0)
            x = rng.standard_normal((T, loadings.shape[1]), dtype=np.float32)
            x *= np.float32(cfg.noise)
            x += latent.astype(np.float32) @ loadings
            if kind == "i3d":
                x += np.float32(0.35)
                np.maximum(x, 0.0, out=x)
            features[name] = x.astype(np.float32, copy=False)
    segments = [Segment(float(s), float(e), lab) for s, e, lab in zip(starts, ends, labels)]
    info = {"template": template.vid, "fps": fps, "duration": duration, "snippets": T,
            "segments": [{"start": round(float(s), 3), "end": round(float(e), 3), "label": lab,
                          "modalities": [names[j] for j in np.flatnonzero(carries[i])],
                          "strength": float(strength[i])}
                         for i, (s, e, lab) in enumerate(zip(starts, ends, labels))],
            "distractors": int(n_dis)}
    return fps, duration, T, segments, features, info


def _logmel(rng, ev, scene, arousal, pat, n_mel, cfg):
    """(n_mel, bands) dB-like log-mel with the evidence on the class band patterns."""
    T = ev.shape[0]
    bands = pat["cls"].shape[1]
    R = MEL_FRAMES_PER_SNIPPET
    base = -7.0 - 20.0 * np.linspace(0, 1, bands, dtype=np.float32) + np.float32(rng.normal(0, 4))
    per_snip = (base[None, :] + 2.5 * scene @ pat["basis"] + 3.0 * arousal[:, None] * pat["arousal"][None, :]
                + cfg.logmel_gain_db * ev.astype(np.float32) @ pat["cls"]).astype(np.float32)  # (T, B)
    rows = max(n_mel, T * R)  # real files have a few frames beyond the last full snippet
    out = rng.standard_normal((rows, bands), dtype=np.float32)
    out *= np.float32(3.0)
    body = out[:T * R].reshape(T, R, bands)
    body += per_snip[:, None, :]
    body -= np.float32(10.0) * (rng.random((T, R, 1), dtype=np.float32) >= 0.7)   # unvoiced frames
    out[T * R:] += per_snip[-1]
    np.maximum(out, out.max() - np.float32(80.0), out=out)  # power_to_db(top_db=80)
    return out


def _annotate(rng, cfg: SynthConfig, a: Annotator, segments: list[Segment], fps: float, T: int,
              template_minutes: float):
    """Point rows (class_index, start_frame, stop_frame) of one annotator for one video."""
    C = len(CLASS_CODES)
    last_frame = T * SNIPPET_FRAMES - 1
    times, classes = [], []
    if segments:
        s = np.array([seg.start for seg in segments])
        e = np.array([seg.end for seg in segments])
        c = np.array([CLASS_CODES.index(seg.label) for seg in segments])
        marked = rng.random(len(s)) < a.recall
        counts = np.where(marked, 1 + rng.poisson(a.extra_points, len(s)), 0)
        seg_of = np.repeat(np.arange(len(s)), counts)
        length = e[seg_of] - s[seg_of]
        centre = s[seg_of] + rng.uniform(0.2, 0.8, len(seg_of)) * length
        times.append(centre + rng.normal(0, a.spread, len(seg_of)) * length)
        classes.append(c[seg_of])
        video_classes = np.unique(c)
    else:
        video_classes = np.arange(C)
    n_false = rng.poisson(a.false_per_min * template_minutes)
    times.append(rng.uniform(0, snippet_start(T, fps), n_false))
    classes.append(rng.choice(video_classes, n_false))
    t = np.concatenate(times)
    cls = np.concatenate(classes).astype(np.int64)
    if len(t) == 0:  # every annotator marks every video at least once (the official code needs it)
        t = np.array([rng.uniform(0, snippet_start(T, fps))])
        cls = rng.choice(video_classes, 1)
    flip = rng.random(len(cls)) < a.flip
    cls = np.where(flip, (cls + 1) % C, cls)
    frame = np.clip(np.floor(t * fps).astype(np.int64), 0, last_frame)
    width = np.round(rng.exponential(a.width_frames, len(frame))).astype(np.int64)
    half = np.minimum(width // 2, frame)
    start, stop = frame - half, frame + half + (width % 2) * (half == width // 2)
    order = np.argsort(frame, kind="stable")
    return cls[order], start[order], stop[order]


# --------------------------------------------------------------------------- driver

def parse_modalities(text: str) -> dict[str, int]:
    """``"rgb,logmfcc"`` or ``"rgb:256,audio:64"`` -> {name: dim} (rgb/logmfcc default 1024/60)."""
    out = {}
    for item in (p.strip() for p in text.split(",") if p.strip()):
        name, _, dim = item.partition(":")
        if not dim and name not in TSL300_DIMS:
            raise ValueError(f"modality {name!r} needs a width, e.g. {name}:128")
        out[name] = int(dim) if dim else TSL300_DIMS[name]
        if out[name] < 1:
            raise ValueError(f"modality {name!r}: width must be >= 1")
    if not out:
        raise ValueError("no modalities given")
    return out


def generate(out_dir, n_train: int = 200, n_test: int = 100, seed: int = 0, **params) -> dict:
    """Write a synthetic dataset in the TSL-300 layout to ``out_dir``; returns the meta dict.

    ``params`` are the other :class:`SynthConfig` fields (``modalities``, ``snippets_mean``,
    ``p_all``, ``p_weak``, ...). Same arguments -> identical bytes.
    """
    cfg = SynthConfig(n_train=n_train, n_test=n_test, seed=seed, **params)
    if cfg.n_train < 0 or cfg.n_test < 0 or cfg.n_train + cfg.n_test == 0:
        raise ValueError("need at least one video (n_train, n_test >= 0)")
    if cfg.snippets_mean is not None and cfg.snippets_mean < MIN_SNIPPETS:
        raise ValueError(f"snippets_mean must be >= {MIN_SNIPPETS}, got {cfg.snippets_mean}")
    started = time.perf_counter()
    out = Path(out_dir)
    templates = _load_templates(Path(cfg.templates) if cfg.templates else tsl300_annotations())
    rng = np.random.default_rng([cfg.seed, 0])
    patterns = _class_patterns(rng, cfg.modalities, len(CLASS_CODES))
    real_mean = np.mean([num_snippets(int(t.duration * t.fps)) for ts in templates.values() for t in ts])
    scale = 1.0 if cfg.snippets_mean is None else float(cfg.snippets_mean) / real_mean
    tsl_layout = set(cfg.modalities) == set(TSL300_DIMS)

    plan = []
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        pool = templates[split]
        picks = rng.permutation(len(pool))[:n] if n <= len(pool) else rng.integers(0, len(pool), n)
        plan += [(split, pool[i]) for i in picks]

    subsets, segments, fps_d, dur_d, lengths, videos_meta = {}, {}, {}, {}, {}, {}
    annot_rows: list[list[tuple]] = [[] for _ in cfg.annotators]
    for k, (split, template) in enumerate(plan):
        vid = f"{k + 1}_synthetic_{split}"
        fps, duration, T, segs, feats, info = _make_video(cfg, k, template, scale, patterns)
        write_features(out, split, vid, feats)
        subsets[vid], segments[vid], fps_d[vid], dur_d[vid], lengths[vid] = split, segs, fps, duration, T
        videos_meta[vid] = info
        if split == "train":
            arng = np.random.default_rng([cfg.seed, 2, k])
            for j, a in enumerate(cfg.annotators):
                cls, start, stop = _annotate(arng, cfg, a, segs, fps, T, template.duration / 60)
                annot_rows[j] += [(vid, int(c), int(s), int(e)) for c, s, e in zip(cls, start, stop)]

    for split in ("train", "test"):
        write_split(out, split, [v for v, s in subsets.items() if s == split])
    write_gt(out, gt_database(subsets, segments, blank_subsets=["train"]), "gt.json")
    write_gt(out, gt_database(subsets, segments), "videosenti_gt.json")
    write_json_dict(out, "fps_dict.json", fps_d)
    write_json_dict(out, "len_duration_dict.json", dur_d)
    if cfg.n_train:
        write_annotator_files(out, [points_table(rows) for rows in annot_rows])
        table, _, _ = select_points(out, "random", cfg.seed, CLASS_CODES)
        write_point_labels(out, table)
    if not tsl_layout:
        for split in ("train", "test"):
            for name, dim in cfg.modalities.items():
                rows = MEL_FRAMES_PER_SNIPPET if _kind(name) == "logmel" else 1
                write_spec(out, split, name, {
                    "name": f"synthetic-{_kind(name)}", "version": GENERATOR_VERSION, "modality": name,
                    "dims": [rows, dim] if rows > 1 else [dim], "rows_per_snippet": rows,
                    "snippet_frames": SNIPPET_FRAMES, "synthetic": True})
    params = asdict(cfg)
    params["annotators"] = [asdict(a) for a in cfg.annotators]
    meta = {"generator": "tsl300.data.synth", "version": GENERATOR_VERSION, "seed": cfg.seed,
            "parameters": params, "layout": "tsl300" if tsl_layout else "generic",
            "duration_scale": scale, "videos": videos_meta}
    atomic_write_json(out / "synthetic_meta.json", meta, indent=1)
    meta["seconds"] = time.perf_counter() - started
    return meta

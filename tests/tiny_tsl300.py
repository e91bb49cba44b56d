"""A tiny TSL-300-layout dataset with a learnable signal, for engine/flagship/recipe tests.

Each video has a few sentiment segments; inside a segment of class c, the ``rgb`` features move
along a class direction and the log-mel bands get a class-specific bump, on top of noise. Train
videos get one point (a frame) inside each segment; gt.json keeps only the test segments, as
the real file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsl300.data import Segment, Video, write_layout

FPS = 25.0


def make_video(vid: str, subset: str, rng: np.random.Generator, rgb_dim: int, t_range=(40, 80),
               directions=None, bumps=None) -> Video:
    T = int(rng.integers(*t_range))
    rgb = rng.normal(0, 1, (T, rgb_dim)).astype(np.float32)
    mel_db = rng.normal(-30, 5, (T, 32, 60)).astype(np.float32)
    segments, points, frames = [], [], []
    cursor = int(rng.integers(2, 6))
    while cursor + 6 < T - 2:
        length = int(rng.integers(4, 10))
        end = min(cursor + length, T - 1)
        c = int(rng.integers(0, 2))
        rgb[cursor:end] += 2.5 * directions[c]
        mel_db[cursor:end] += bumps[c]
        segments.append(Segment(cursor * 16 / FPS, end * 16 / FPS, "np"[c]))
        frame = int(rng.integers(cursor * 16, end * 16))
        points.append((frame // 16, c))
        frames.append(frame)
        cursor = end + int(rng.integers(4, 12))
    return Video(vid=vid, fps=FPS, features={"rgb": rgb, "logmfcc": (mel_db + 50) / 80},
                 points=np.array(points, dtype=np.int64).reshape(-1, 2) if subset == "train" else np.zeros((0, 2), np.int64),
                 point_frames=np.array(frames, dtype=np.int64) if subset == "train" else np.zeros(0, np.int64),
                 segments=segments, subset=subset, duration=T * 16 / FPS)


def make_videos(n_train: int = 16, n_test: int = 8, seed: int = 0, rgb_dim: int = 32, t_range=(40, 80)) -> list[Video]:
    rng = np.random.default_rng(seed)
    directions = rng.normal(0, 1, (2, rgb_dim)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True) / np.sqrt(2.0)
    bumps = np.zeros((2, 1, 60), dtype=np.float32)
    bumps[0, 0, 5:15] = 12.0
    bumps[1, 0, 35:45] = 12.0
    out = [make_video(f"v{i:03d}", "train", rng, rgb_dim, t_range, directions, bumps) for i in range(n_train)]
    out += [make_video(f"t{i:03d}", "test", rng, rgb_dim, t_range, directions, bumps) for i in range(n_test)]
    return out


def write_tiny_dataset(root: str | Path, **kwargs) -> Path:
    return write_layout(Path(root), make_videos(**kwargs))

"""Copies of the real TSL-300 annotation files shipped inside the package.

Source: github.com/nku-zhichengzhang/TSL300 ``dataset/VideoSenti`` (Apache-2.0, LICENSE
shipped alongside). See ``data_cards/tsl300.md`` for contents, checksums and statistics.
The features and videos are not public; these files alone are enough for the synthetic
generator's statistics, the data card, and tests of the annotation readers.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SHIPPED_FILES = (
    "LICENSE", "split_train.txt", "split_test.txt", "gt.json", "videosenti_gt.json",
    "fps_dict.json", "len_duration_dict.json", "time.json", "point_gaussian/point_labels.csv",
    "point_gaussian/train/point_anno_0.txt", "point_gaussian/train/point_anno_1.txt",
    "point_gaussian/train/point_anno_2.txt",
)
"""Paths (relative to :func:`tsl300_annotations`) of the shipped files."""


def tsl300_annotations() -> Path:
    """Folder holding the shipped TSL-300 annotation files (read-only; do not write here)."""
    path = Path(str(files("tsl300") / "resources" / "tsl300"))
    if not (path / "videosenti_gt.json").is_file():
        raise FileNotFoundError(f"{path}: the shipped TSL-300 annotations are missing from this "
                                "installation (package data not installed)")
    return path

"""Point labels of the TSL-300 layout: the three annotator files and the official draw.

The official code (``SentiFeature.mix_video_points_label``) reads every file in
``point_gaussian/train/``, collects the video ids appearing in them, natsorts the ids and, for
each id in that order, picks annotator file
``(random.randint(0, n_files - 1) + random.randint(0, 0)) % n_files`` with Python's
``random`` module freshly seeded by ``--seed`` (``utils.set_seed`` runs just before, and
nothing draws from ``random`` in between). :func:`official_annotator_choice` replays exactly
that sequence on a private ``random.Random(seed)``: ``randint(0, 0)`` still consumes one
``getrandbits(1)`` draw (rejection sampling), so it is kept.

File order. The draw indexes the files in ``os.listdir`` order, which depends on the file
system. The shipped ``point_labels.csv`` is reproduced row for row by seed 123 (the seed of the
official ``run_train.sh``) with the order ``point_anno_1, point_anno_0, point_anno_2`` and by
no other order for any seed in -1..20000, so that order (:data:`OFFICIAL_DRAW_ORDER`) is used
whenever the folder holds exactly those three files; any other set of files is drawn in name
order. ``annotator_of_video`` always reports the file by its name-sorted index (k of
``point_anno_k``).

Deviation: the chosen rows are returned in memory; the user's ``point_labels.csv`` is never
rewritten (the official code overwrites it on every dataset construction).
"""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .io import natsorted, read_point_table

ANNOTATOR_DIR = ("point_gaussian", "train")
OFFICIAL_DRAW_ORDER = ("point_anno_1.txt", "point_anno_0.txt", "point_anno_2.txt")
"""``os.listdir`` order of the authors' machine, recovered from the shipped point_labels.csv."""
POINT_LABELS_CSV = ("point_gaussian", "point_labels.csv")


def annotator_files(root: Path) -> list[Path]:
    """The annotator point files in ``point_gaussian/train/``, sorted by name."""
    folder = root.joinpath(*ANNOTATOR_DIR)
    if not folder.is_dir():
        raise DataError(f"{folder}: missing folder (annotator point files point_anno_*.txt)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder}: no annotator point files inside")
    return files


def draw_order(files: list[Path]) -> list[int]:
    """Indices (into the name-sorted ``files``) in the order the official draw sees them."""
    names = [f.name for f in files]
    if sorted(names) == sorted(OFFICIAL_DRAW_ORDER):
        return [names.index(n) for n in OFFICIAL_DRAW_ORDER]
    return list(range(len(files)))


def official_annotator_choice(vids_in_files: list[str], n_files: int, seed: int) -> dict[str, int]:
    """Position (in draw order) of the chosen file per video: the official seeded draw."""
    if n_files < 1:
        raise ValueError("need at least one annotator file")
    rng = random.Random(seed)
    choice = {}
    for vid in natsorted(set(vids_in_files)):
        choice[vid] = (rng.randint(0, n_files - 1) + rng.randint(0, 0)) % n_files
    return choice


def read_annotator_tables(root: Path, class_names: tuple[str, ...]) -> tuple[list[Path], list[pd.DataFrame]]:
    files = annotator_files(root)
    return files, [read_point_table(f, class_names) for f in files]


def select_points(root: Path, mode: str | int, seed: int, class_names: tuple[str, ...]
                  ) -> tuple[pd.DataFrame, dict[str, int], list[Path]]:
    """Point rows for the dataset and, per video, which annotator file they came from.

    ``mode``: ``"random"`` (official seeded per-video choice), ``"csv"`` (read
    ``point_gaussian/point_labels.csv``), or an ``int`` k (every video from the k-th file in
    name order). Returns ``(table, annotator_of_video, files_read)``; ``annotator_of_video`` is
    empty for ``"csv"``.
    """
    if mode == "csv":
        path = root.joinpath(*POINT_LABELS_CSV)
        return read_point_table(path, class_names), {}, [path]
    files, tables = read_annotator_tables(root, class_names)
    if isinstance(mode, bool) or not (mode == "random" or isinstance(mode, int)):
        raise ValueError(f"points must be 'random', 'csv', 'none' or an annotator index, got {mode!r}")
    if mode == "random":
        vids = [v for t in tables for v in t["video_id"].tolist()]
        order = draw_order(files)
        choice = {v: order[c] for v, c in official_annotator_choice(vids, len(files), seed).items()}
    else:
        if not 0 <= mode < len(files):
            raise DataError(f"{files[0].parent}: annotator index {mode} out of range; "
                            f"{len(files)} files: {[f.name for f in files]}")
        choice = {v: mode for v in natsorted(set(tables[mode]["video_id"]))}
    parts = []
    for vid, k in choice.items():
        table = tables[k]
        rows = table[table["video_id"] == vid]
        if rows.empty:  # the official code raises KeyError here
            raise DataError(f"{files[k]}: video {vid!r} has no points in this annotator file "
                            "(it appears in another annotator file)")
        parts.append(rows)
    table = pd.concat(parts, ignore_index=True) if parts else tables[0].iloc[0:0]
    return table, choice, files

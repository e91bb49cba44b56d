"""The video files a batch command works on: files as given, folders searched recursively by
suffix, and list files; one place so that ``tsl300 extract`` and ``tsl300 localize`` agree."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import Tsl300Error

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".aac", ".wma", ".aiff", ".aif"})
"""Audio files are inputs too: they run on the audio clock with the picture masked."""
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".flv", ".ogv", ".3gp", ".m4v",
                            ".mpg", ".mpeg", ".wmv", ".ts", ".mts"})
"""Video suffixes; a folder search picks up these and AUDIO_SUFFIXES (case-insensitive). Files named
explicitly are always taken."""
MEDIA_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES


def collect_inputs(inputs: Iterable[str | os.PathLike], lists: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Video paths from files, folders (recursive, by suffix) and list files, in order, unique.

    A list file has one path per line (``#`` comments and blank lines skipped); a relative
    path that does not exist from the working folder is taken relative to the list file.
    """
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        else:
            paths.append(path)
    for list_file in lists:
        listing = Path(list_file)
        if not listing.is_file():
            raise Tsl300Error(f"{listing}: list file not found")
        for line in listing.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                path = Path(line)
                paths.append(path if path.is_absolute() or path.exists() else listing.parent / path)
    return list(dict.fromkeys(paths))


def unique_stems(paths: Iterable[Path]) -> dict[str, Path]:
    """``{stem: path}``; two inputs with one stem would write the same outputs, which is an error."""
    by_stem: dict[str, Path] = {}
    for path in paths:
        if path.stem in by_stem:
            raise Tsl300Error(f"two inputs have the same name {path.stem!r}: {by_stem[path.stem]} and {path}; "
                              "rename one (outputs are named by file stem)")
        by_stem[path.stem] = path
    return by_stem

""""Did you mean ...?" for a mistyped path, recipe, extractor or model name."""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Iterable


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(str(word), sorted(set(map(str, choices))), n=n, cutoff=0.6)


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """`` (did you mean X?)`` with the closest choices, or an empty string when none is close."""
    close = close_matches(word, choices, n)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def missing_path_hint(path: str | os.PathLike) -> str:
    """`` (did you mean DIR/NAME?)`` for a path that does not exist, from its folder's entries."""
    path = Path(path)
    try:
        names = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
    except OSError:
        return ""
    close = [str(path.parent / name) for name in close_matches(path.name, names)]
    return f" (did you mean {' or '.join(close)}?)" if close else ""

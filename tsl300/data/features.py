"""Per-modality feature files: ``features/{split}/{modality}/{vid}.npy``.

Rules (one per modality, see :class:`ModalityStore`):

- a file holds ``rows_per_snippet * T`` rows (extra rows are cut); it is viewed as
  ``(T, *per_snippet_shape)``. ``rows_per_snippet`` is 32 for ``logmfcc`` (TSL-300 log-mel:
  32 mel frames per 16-frame snippet, reshaped to (T, 32, 60) as the official code), else the
  ``rows_per_snippet`` key of the modality's ``spec.json``, else 1. Files may be 2-D ``(T, D)``
  or 3-D ``(T, a, b)``.
- ``logmfcc`` is mapped with ``(x + 50) / 80`` (the official normalisation) when
  ``normalize_logmel`` is on (default).
- ``spec.json`` in the modality folder (written by ``tsl300 extract``) is read as a dict.
- missing data: an empty marker file ``{vid}.missing`` in the modality folder declares that
  the video has no such modality (e.g. no audio track); the loader fills zeros and lists the
  modality in ``Video.missing``. A video with neither ``.npy`` nor marker is an error unless
  the loader is called with ``allow_missing=True`` or the spec says ``"allow_missing": true``.

Arrays are opened with ``np.load(mmap_mode="c")`` (copy-on-write) by default, so reading a header to learn T
costs nothing and a loaded rgb array stays a view of the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .io import read_json, safe_child

LOGMEL_MODALITY = "logmfcc"
LOGMEL_OFFSET, LOGMEL_SCALE = 50.0, 80.0
"""Official TSL-300 log-mel normalisation ``(x + 50) / 80`` (dB range about -80..+40)."""
MISSING_SUFFIX = ".missing"
TSL300_SNIPPET_SHAPES = {"rgb": (1024,), LOGMEL_MODALITY: (32, 60)}
SPEC_FILE = "spec.json"
SPEC_KEYS = frozenset({
    # tsl300.extractors.ExtractorSpec's fields
    "name", "version", "modality", "input", "shape", "snippet_frames", "fps", "sample_rate",
    "frame_size", "layout", "columns", "params",
    # keys derived for readers, and the ones a hand-written spec.json may add
    "dims", "rows_per_snippet", "allow_missing", "synthetic",
})
"""Every key a ``spec.json`` may have; any other is a misspelling (an error, never ignored)."""


def normalize_logmel(x: np.ndarray) -> np.ndarray:
    return (x + np.float32(LOGMEL_OFFSET)) / np.float32(LOGMEL_SCALE)


def denormalize_logmel(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize_logmel` (back to dB), for writers."""
    return x * np.float32(LOGMEL_SCALE) - np.float32(LOGMEL_OFFSET)


def feature_dir(root: Path, split: str, modality: str) -> Path:
    return root / "features" / split / modality


def discover_modalities(root: Path, split: str) -> list[str]:
    """Modality folders under ``features/{split}/`` (sorted by name)."""
    base = root / "features" / split
    if not base.is_dir():
        raise DataError(f"{base}: missing folder (features of split {split!r})")
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass
class ModalityStore:
    """Reads one modality of one split."""

    root: Path
    split: str
    name: str
    normalize: bool = True
    mmap: bool = True
    allow_missing: bool | None = None
    spec: dict = field(default_factory=dict)

    def __post_init__(self):
        self.folder = feature_dir(self.root, self.split, self.name)
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: missing folder (features of modality {self.name!r})")
        spec_path = self.folder / SPEC_FILE
        if spec_path.is_file():
            spec = read_json(spec_path, f"extractor spec of modality {self.name!r}")
            if not isinstance(spec, dict):
                raise DataError(f"{spec_path}: extractor spec must be a JSON object")
            unknown = sorted(set(spec) - SPEC_KEYS)
            if unknown:
                raise DataError(f"{spec_path}: unknown field {unknown[0]!r}; valid fields: {', '.join(sorted(SPEC_KEYS))}")
            if not isinstance(spec.get("allow_missing", False), bool):
                raise DataError(f"{spec_path}: field 'allow_missing' must be true or false, got "
                                f"{spec['allow_missing']!r}")
            self.spec = spec
        if self.allow_missing is None:
            self.allow_missing = self.spec.get("allow_missing", False)
        self.is_logmel = self.name == LOGMEL_MODALITY
        default_rows = 32 if self.is_logmel else 1
        self.rows_per_snippet = int(self.spec.get("rows_per_snippet", default_rows))
        if self.rows_per_snippet < 1:
            raise DataError(f"{spec_path}: rows_per_snippet must be >= 1")

    def declared_snippet_shape(self) -> tuple[int, ...] | None:
        """Per-snippet shape from the spec's ``dims``, else the TSL-300 shape of ``rgb`` /
        ``logmfcc``; used only when no video of the split has a file for this modality."""
        dims = self.spec.get("dims")
        if isinstance(dims, list) and dims and all(isinstance(d, int) and d > 0 for d in dims):
            return tuple(dims)
        return TSL300_SNIPPET_SHAPES.get(self.name)

    def path(self, vid: str) -> Path:
        return safe_child(self.folder, f"{vid}.npy")

    def is_missing(self, vid: str) -> bool:
        """True when the video lacks this modality (declared by a marker, or allowed)."""
        if self.path(vid).is_file():
            return False
        if safe_child(self.folder, vid + MISSING_SUFFIX).is_file() or self.allow_missing:
            return True
        raise DataError(f"{self.path(vid)}: missing file (features of modality {self.name!r}; "
                        f"write an empty {vid}{MISSING_SUFFIX} marker if the video has none)")

    def _open(self, vid: str, mmap: bool) -> np.ndarray:
        path = self.path(vid)
        try:
            # copy-on-write map: pages are read lazily and the array is writable (torch.from_numpy
            # does not warn); writes stay in memory and never reach the file.
            return np.load(path, mmap_mode="c" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: cannot read features as a .npy array: {exc}") from None

    def raw_shape(self, vid: str) -> tuple[int, ...]:
        """Shape of the stored array (header only)."""
        array = self._open(vid, mmap=True)
        shape = tuple(array.shape)
        del array
        path = self.path(vid)
        if len(shape) not in (2, 3):
            raise DataError(f"{path}: features must be 2-D (T, D) or 3-D (T, a, b), got shape {shape}")
        if self.rows_per_snippet > 1 and len(shape) != 2:
            raise DataError(f"{path}: modality {self.name!r} stores {self.rows_per_snippet} rows "
                            f"per snippet and must be 2-D (rows, D), got shape {shape}")
        return shape

    def num_snippets(self, raw_shape: tuple[int, ...]) -> int:
        return raw_shape[0] // self.rows_per_snippet

    def per_snippet_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.rows_per_snippet > 1:
            return (self.rows_per_snippet,) + tuple(raw_shape[1:])
        return tuple(raw_shape[1:])

    def load(self, vid: str, n_snippets: int, snippet_shape: tuple[int, ...]) -> np.ndarray:
        """(T, *snippet_shape) float32, cut to ``n_snippets``, checked finite, normalised."""
        array = self._open(vid, mmap=self.mmap)
        rows = n_snippets * self.rows_per_snippet
        array = array[:rows]
        if self.rows_per_snippet > 1:
            array = array.reshape((n_snippets,) + snippet_shape)
        if array.dtype != np.float32:
            array = array.astype(np.float32)
        finite = np.isfinite(array)
        if not finite.all():
            bad = int(np.argwhere(~finite)[0][0])
            raise DataError(f"{self.path(vid)}: video {vid!r} has NaN/inf features in modality "
                            f"{self.name!r} (first at snippet {bad})")
        if self.is_logmel and self.normalize:
            array = normalize_logmel(array)
        return np.asarray(array)  # a plain ndarray view (no np.memmap subclass downstream)

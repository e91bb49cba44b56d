"""The extractor spec: everything needed to say whether two feature sets are interchangeable.

It is written as ``features/{split}/{modality}/spec.json`` beside the arrays and stored in every
checkpoint; loading features or a model made with a different spec raises SpecMismatchError.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tsl300.data.features import SPEC_FILE, SPEC_KEYS
from tsl300.data.io import atomic_write_text, read_json
from tsl300.errors import SpecMismatchError
from tsl300.timegrid import SNIPPET_FRAMES

SPEC_FILENAME = SPEC_FILE


@dataclass(frozen=True)
class ExtractorSpec:
    """Declaration of one extractor's output.

    Attributes:
        name: registry name (``visual_stats``, ``logmel_tsl300``, ...).
        version: bumped whenever the numbers an extractor produces change.
        modality: output folder and feature key (``rgb``, ``logmfcc``, ``visual_stats`` ...).
        input: ``"video"`` or ``"audio"``: which decoded stream it consumes.
        shape: per-snippet shape, e.g. ``(1024,)`` or ``(32, 60)``.
        snippet_frames: video frames per snippet (TSL-300: 16 at native fps).
        fps: ``"native"`` or a number (frames resampled to that rate before snippeting).
        sample_rate: audio rate rule: an integer, ``"native"``, or a formula string such as the
            TSL-300 ``int(fps/19.9167*...)``; None for visual extractors.
        frame_size: how frames are resized (``"height=240,crop=224"`` ...); None for audio.
        layout: ``"snippets"`` (array (T, *shape) on disk) or ``"flat"`` ((>= rows*T, cols) on
            disk, as TSL-300's ``logmfcc``; rows = shape[0]).
        columns: names of the feature columns when they mean something (hand-made features).
        params: everything else that changes the numbers (model, weights hash, thresholds).
    """

    name: str
    version: str
    modality: str
    input: str
    shape: tuple[int, ...]
    snippet_frames: int = SNIPPET_FRAMES
    fps: str | float = "native"
    sample_rate: int | str | None = None
    frame_size: str | None = None
    layout: str = "snippets"
    columns: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    @property
    def rows_per_snippet(self) -> int:
        """Rows one snippet takes in the stored array (32 for the flat TSL-300 log-mel, else 1)."""
        return self.shape[0] if self.layout == "flat" else 1

    def to_dict(self) -> dict:
        """JSON-ready dict; ``dims`` and ``rows_per_snippet`` are derived keys for feature readers."""
        data = asdict(self)
        data["shape"] = list(self.shape)
        data["columns"] = list(self.columns)
        data["dims"] = list(self.shape)
        data["rows_per_snippet"] = self.rows_per_snippet
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> "ExtractorSpec":
        """The spec in ``data``; SpecMismatchError naming ``where`` for a field no spec has."""
        data = dict(data)
        unknown = sorted(set(data) - SPEC_KEYS)
        if unknown:
            raise SpecMismatchError(f"{where or 'extractor spec'}: unknown field {unknown[0]!r}")
        data["shape"] = tuple(int(x) for x in data["shape"])
        data["columns"] = tuple(data.get("columns", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/spec.json`` atomically."""
        path = Path(folder) / SPEC_FILENAME
        atomic_write_text(path, self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "ExtractorSpec":
        path = Path(folder)
        path = path if path.suffix == ".json" else path / SPEC_FILENAME
        return cls.from_dict(read_json(path, "extractor spec"), str(path))

    def check_compatible(self, other: "ExtractorSpec", where: str = "") -> None:
        """Raise SpecMismatchError naming the differing fields, when ``other`` is not the same."""
        mine, theirs = self.to_dict(), other.to_dict()
        diffs = [f"{k}: {mine[k]!r} != {theirs.get(k)!r}" for k in mine if mine[k] != theirs.get(k)]
        if diffs:
            prefix = f"{where}: " if where else ""
            raise SpecMismatchError(f"{prefix}extractor spec of '{self.modality}' differs: "
                                    + "; ".join(diffs))

    def rows_on_disk(self, n_snippets: int) -> int:
        """Minimum number of rows the stored array has for ``n_snippets`` snippets."""
        return n_snippets * self.shape[0] if self.layout == "flat" else n_snippets

    def as_snippets(self, stored, n_snippets: int):
        """The stored array as (T, *shape): a flat array is cut to rows*T and reshaped."""
        if self.layout == "flat":
            rows = self.shape[0]
            return stored[: rows * n_snippets].reshape(n_snippets, *self.shape)
        return stored[:n_snippets]

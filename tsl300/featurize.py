"""Video file -> :class:`~tsl300.data.types.Video` with a model's features, in one decoding pass.

The single place where ``localize`` and the training-data builders turn a file into features,
so a model never sees features computed differently from the ones it was trained on. The
extractors are rebuilt from the specs saved with the model, and a spec that the installed
extractor no longer produces is a :class:`~tsl300.errors.SpecMismatchError`.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .data.types import Video


USER_ONLY_OPTIONS = ("self", "download")
"""Constructor options a spec (a model's sidecar, a stranger's file) may never set: whether
weights are downloaded is the user's choice (``download=``), never the model's."""


def extractor_from_spec(spec: Mapping[str, Any], where: str = "", inputs: Mapping[str, Any] | None = None,
                        download: bool = False):
    """The installed extractor that produces ``spec`` (constructor options from its params).

    ``inputs``: options that say where an extractor finds its input and do not change its numbers
    (``transcripts=DIR`` for ``text``); each is passed only to extractors that accept it.
    ``download`` (the user's flag, never the spec's) lets an extractor fetch weights the spec
    names by URL and sha256.
    """
    from .extractors import ExtractorSpec, get_extractor

    wanted = ExtractorSpec.from_dict(dict(spec), where)
    extractor = get_extractor(wanted.name)
    accepted = inspect.signature(type(extractor).__init__).parameters
    from_spec = {k: v for k, v in wanted.params.items() if k not in USER_ONLY_OPTIONS}
    options = {k: v for k, v in {**from_spec, **(inputs or {})}.items() if k in accepted and k != "self"}
    if download and "download" in accepted:
        options["download"] = True
    if options:
        extractor = get_extractor(wanted.name, where=where or f"extractor {wanted.name}", **options)
    wanted.check_compatible(extractor.spec(), where or f"extractor {wanted.name}")
    return extractor


def featurize(path: str | os.PathLike, specs: Mapping[str, Mapping[str, Any]], *,
              progress: bool = False, inputs: Mapping[str, Any] | None = None,
              download: bool = False) -> Video:
    """Features of ``path`` for each modality in ``specs`` (modality -> extractor spec dict).

    The file is decoded once, streamed (memory does not grow with the video's length). Audio
    modalities of a video without (audible) audio are zeros and listed in ``Video.missing``.
    ``progress`` shows a decoding progress bar; ``inputs`` as in :func:`extractor_from_spec`;
    ``download`` lets extractors fetch the weights their specs name (by URL and sha256).
    """
    from .extractors import extract_video

    extractors = [extractor_from_spec(spec, f"{path}: model's {name} extractor", inputs, download)
                  for name, spec in specs.items()]
    result = extract_video(path, extractors, progress=progress)
    features = {name: result.features[name] for name in specs}
    return Video(vid=Path(path).stem, fps=float(result.fps), features=features,
                 subset="test", duration=float(result.duration),
                 missing=tuple(m for m in result.missing if m in specs))


def default_featurizer(names=("default",)):
    """``(featurize(path) -> Video, specs)`` for the named extractors (default: the offline set)."""
    from .extractors import build_extractors

    specs = {e.spec().modality: e.spec().to_dict() for e in build_extractors(list(names))}

    def run(path):
        return featurize(path, specs)

    return run, specs

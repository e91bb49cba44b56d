"""Per-snippet feature extractors, installed as ``tsl300.extractors``.

>>> from tsl300.extractors import extract_video
>>> result = extract_video("talk.mp4", ["default"])       # doctest: +SKIP
>>> result.features["visual_stats"].shape                  # doctest: +SKIP
(T, 62)

A new modality is one module here with an ``@register_extractor("name")`` class (see
``base.py`` for the protocol); it is discovered on first lookup.
"""
from .base import (AudioExtractor, AudioSnippetExtractor, ClipExtractor, Extractor, FrameExtractor,
                   Sink, SnippetPooler, snippet_count)
from .pipeline import ExtractionResult, build_extractors, extract_video
from .registry import EXTRACTOR_SETS, available_extractors, expand_names, get_extractor, register_extractor
from .spec import SPEC_FILENAME, ExtractorSpec
from .store import FeatureStore

__all__ = [
    "EXTRACTOR_SETS", "SPEC_FILENAME", "AudioExtractor", "AudioSnippetExtractor", "ClipExtractor",
    "ExtractionResult", "Extractor", "ExtractorSpec", "FeatureStore", "FrameExtractor", "Sink",
    "SnippetPooler", "available_extractors", "build_extractors", "expand_names", "extract_video",
    "get_extractor", "register_extractor", "snippet_count",
]

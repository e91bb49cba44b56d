"""User-facing error types. Each message names the file (or video) and what is wrong."""
from __future__ import annotations


class Tsl300Error(Exception):
    """Base class for errors the CLI reports without a traceback."""


class DataError(Tsl300Error, ValueError):
    """A dataset, annotation or feature file is missing or malformed."""


class MediaError(Tsl300Error, ValueError):
    """A media file cannot be decoded (empty, truncated, not media, no video stream...)."""


class RecipeError(Tsl300Error, ValueError):
    """A recipe file is invalid (unknown key, wrong type, unknown method)."""


class CheckpointError(Tsl300Error, ValueError):
    """A checkpoint is missing, untrusted (pickle), or does not match the model/extractors."""


class DeviceError(Tsl300Error, ValueError):
    """A requested device does not exist here (``cuda`` without CUDA, a misspelt name)."""


class SpecMismatchError(Tsl300Error, ValueError):
    """Features or a checkpoint were made with a different extractor spec."""

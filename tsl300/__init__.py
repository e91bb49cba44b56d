"""tsl300: multimodal (audio + visual) temporal sentiment localization with point supervision."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("tsl300")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from .classes import CLASS_CODES  # noqa: E402 - TSL-300 class order: 0 = negative ('n'), 1 = positive ('p')

CLASS_NAMES = CLASS_CODES  # the name this constant had before tsl300.classes held it

_LAZY = {
    "localize": ("api", "localize"),
    "load_model": ("api", "load_model"),
    "available_models": ("api", "available_models"),
    "Localizer": ("api", "Localizer"),
    "train": ("experiment", "train"),
    "test": ("experiment", "test"),
    "LocalizationResult": ("types", "LocalizationResult"),
    "LocalizedSegment": ("types", "LocalizedSegment"),
}


def __getattr__(name: str):
    """Import the one-call API on first use, so ``import tsl300`` stays light (no torch)."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))

"""tsl300: multimodal (audio + visual) temporal sentiment localization with point supervision."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("tsl300")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

CLASS_NAMES = ("n", "p")
"""TSL-300 class order: index 0 = negative ('n'), 1 = positive ('p'), as the official code."""

"""tsl300: multimodal (audio + visual) temporal sentiment localization with point supervision."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("tsl300")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from .classes import CLASS_CODES  # noqa: E402 - TSL-300 class order: 0 = negative ('n'), 1 = positive ('p')

CLASS_NAMES = CLASS_CODES  # the name this constant had before tsl300.classes held it

from .lazy import lazy_attributes  # noqa: E402

# the one-call API, imported on first use so that ``import tsl300`` stays light (no torch)
_LAZY = {"localize": "api", "load_model": "api", "available_models": "api", "Localizer": "api",
         "train": "experiment", "test": "experiment",
         "LocalizationResult": "types", "LocalizedSegment": "types"}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())

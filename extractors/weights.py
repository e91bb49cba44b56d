"""Model weights from a local file, or from a URL into a cache with a sha256 check.

Nothing is downloaded unless asked (``download=True``), and a URL is only used with the sha256
of its file: the cache is keyed by URL and hash, so a file fetched for one URL (or planted under
a file name) is never taken for another. Weights are read with ``safetensors`` or
``torch.load(weights_only=True)``, never with a full unpickler.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from tsl300.errors import CheckpointError


def cache_dir() -> Path:
    """``$TSL300_CACHE/weights`` or ``~/.cache/tsl300/weights``."""
    root = os.environ.get("TSL300_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tsl300")
    return Path(root) / "weights"


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_url(source: str | os.PathLike) -> bool:
    return urllib.parse.urlparse(str(source)).scheme in ("http", "https")


def cache_path(url: str, sha256: str, cache: str | Path | None = None) -> Path:
    """Where the file of ``url`` with hash ``sha256`` is cached: one name per (URL, hash) pair."""
    name = Path(urllib.parse.urlparse(url).path).name or "weights"
    url_key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return Path(cache or cache_dir()) / f"{url_key}-{sha256.lower()[:16]}-{name}"


def resolve_weights(source: str | os.PathLike, sha256: str | None = None, download: bool = False,
                    cache: str | Path | None = None) -> Path:
    """Local path of the weights given as a path or an http(s) URL (cached under ``cache``).

    A URL needs ``sha256`` (CheckpointError otherwise), whether cached or not; it is fetched
    only with ``download=True``, and the URL is printed to stderr when it is.
    """
    text = str(source)
    if not is_url(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: weights file not found")
        _check_hash(path, sha256)
        return path
    if not (isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha256)):
        raise CheckpointError(f"{text}: weights from a URL need the sha256 of the file (64 hex digits, "
                              f"got {sha256!r}); tsl300 never uses a download it cannot verify")
    target = cache_path(text, sha256, cache)
    if target.is_file():
        _check_hash(target, sha256)
        return target
    if not download:
        raise CheckpointError(f"{text}: weights are not in the cache ({target}); pass download=True "
                              f"(--download) to fetch them, or give a local file path")
    print(f"tsl300: downloading weights {text} (sha256 {sha256.lower()})", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(text, timeout=60) as response:
            shutil.copyfileobj(response, out)
        _check_hash(Path(tmp), sha256, shown=text)
        os.replace(tmp, target)
    except OSError as exc:
        raise CheckpointError(f"{text}: download failed ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_state_dict(path: str | Path) -> dict:
    """Tensors of a ``.safetensors`` file or a torch state dict (read with weights_only=True)."""
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad weights file
        raise CheckpointError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _check_hash(path: Path, sha256: str | None, shown: str | None = None) -> None:
    if sha256:
        actual = sha256_of(path)
        if actual != sha256.lower():
            raise CheckpointError(f"{shown or path}: sha256 {actual} does not match the expected {sha256}")

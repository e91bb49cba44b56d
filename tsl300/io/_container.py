"""Opening a media file with PyAV, turning every failure into a MediaError that names the file.

PyAV raises a zoo of FFmpeg errors (InvalidDataError, EOFError, ...) with messages such as
"Invalid data found when processing input"; users get one error type with the path and a
plain reason instead.

A local input is always opened as a local file: FFmpeg reads a name like ``http:/host/v.mp4``
or ``concat:a.mp4|b.mp4`` as a protocol, so every path is handed over as an absolute ``file:``
URL, and the container may only use the protocols in :data:`LOCAL_PROTOCOLS` (a playlist
inside the file cannot reach the network either).
"""
from __future__ import annotations

import os
from pathlib import Path

import av

from ..errors import MediaError


LOCAL_PROTOCOLS = "file"
"""FFmpeg's ``protocol_whitelist`` for every file tsl300 opens."""


def local_url(path: str | os.PathLike) -> str:
    """The ``file:`` URL of ``path`` made absolute: FFmpeg reads it as this local file, whatever
    the name looks like (``http:...``, ``concat:a|b``, ``pipe:1``)."""
    return "file:" + os.path.abspath(os.fspath(path))


def open_local(path: str | os.PathLike, mode: str = "r", **kwargs):
    """``av.open`` of a local file only (see the module docstring); FFmpeg errors pass through."""
    options = {"protocol_whitelist": LOCAL_PROTOCOLS, **kwargs.pop("container_options", {})}
    return av.open(local_url(path), mode=mode, container_options=options, **kwargs)


def open_container(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading, or raise MediaError (missing, empty, directory, not media)."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, not a media file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        container = open_local(path)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({_reason(exc)})") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: cannot be opened as media ({exc})") from None
    if not container.streams.video and not container.streams.audio:
        container.close()
        raise MediaError(f"{path}: no audio or video stream (truncated or not a media file)")
    return container


def _reason(exc: Exception) -> str:
    """FFmpeg's message without the errno prefix and the repeated path."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__

"""Opening a media file with PyAV, turning every failure into a MediaError that names the file.

PyAV raises a zoo of FFmpeg errors (InvalidDataError, EOFError, ...) with messages such as
"Invalid data found when processing input"; users get one error type with the path and a
plain reason instead.
"""
from __future__ import annotations

import os
from pathlib import Path

import av

from ..errors import MediaError


def open_container(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading, or raise MediaError (missing, empty, directory, not media)."""
    path = Path(path)
    if not path.exists():
        from ..suggest import missing_path_hint

        raise MediaError(f"{path}: file not found{missing_path_hint(path)}")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, not a media file")
    if not path.is_file():  # a FIFO would block or read as empty; a device is not a file
        raise MediaError(f"{path}: not a regular file (a FIFO, socket or device)")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
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

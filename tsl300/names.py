"""How output files are named after their inputs, and how a path is shown to a person.

One module so that ``localize``, ``extract`` and every writer agree. Two facts of real batches
shaped it: a file system limits a name to 255 bytes, and the temporary name an atomic write
uses (``.NAME.XXXXXXXX.tmp``) is longer than the final one, so a 240-character stem already
failed; and a file name can hold bytes that are not UTF-8 or terminal escape sequences.
"""
from __future__ import annotations

import hashlib
import os

NAME_MAX_BYTES = 255
"""The usual file-system limit of one path component (ext4, xfs, APFS, NTFS in UTF-16 units)."""
TEMP_OVERHEAD_BYTES = 16
"""What an atomic write adds to a name: ``.`` + ``NAME`` + ``.XXXXXXXX.tmp``."""


def output_stem(stem: str, suffix: str = "") -> str:
    """``stem`` itself when ``stem + suffix`` (and its temporary name) fits in a file name;
    otherwise its head cut on a character boundary, ``~`` and 10 hex digits of its hash, so
    that two long names never share an output and a rerun finds the same one."""
    budget = NAME_MAX_BYTES - TEMP_OVERHEAD_BYTES - len(os.fsencode(suffix))
    raw = os.fsencode(stem)
    if len(raw) <= budget:
        return stem
    digest = hashlib.sha256(raw).hexdigest()[:10]
    head = stem
    while len(os.fsencode(head)) > budget - 11:  # whole characters only
        head = head[:max(1, len(head) - max(1, (len(os.fsencode(head)) - budget + 11) // 4))]
    return f"{head}~{digest}"


def printable(path: str | os.PathLike) -> str:
    """``path`` safe for a terminal, a log or a CSV cell: control characters (escape sequences)
    and bytes that are not UTF-8 are written as ``\\x1b``-style escapes; anything else as is."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return "".join(out)

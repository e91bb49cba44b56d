"""Device and CPU-thread choice for the train/test commands.

On a shared or small CPU, fewer intra-op threads can be much faster: with 2 cores busy with
other work, 2 OpenMP threads spin and wait on each other (measured here: 1 thread 0.10 s per
flagship step, 2 threads 3.5 s under load). ``--threads`` sets it; default: torch's choice.
"""
from __future__ import annotations

import argparse

from ..errors import Tsl300Error


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")


def configure(device: str = "auto", threads: int | None = None):
    """Apply ``threads`` and resolve ``device`` (a ``torch.device``); CUDA without CUDA is an error."""
    import torch  # here, so that building the CLI parser does not import torch

    if threads is not None:
        if threads < 1:
            raise Tsl300Error(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise Tsl300Error(f"--device {device!r}: expected cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise Tsl300Error(f"--device {device}: CUDA is not available on this machine")
    return resolved

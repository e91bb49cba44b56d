"""Per-video jobs on a Ray cluster (``--engine ray``): one Ray task per video, largest first.

Ray does the scheduling, the retries and the cluster; this module only turns a list of job
argument tuples into Ray tasks and gives back, per job, its result or why it failed. The job
function is the same one the local run calls (``extract_one``, ``localize_one``), so the files,
the per-video claims and the resume rules are the local ones: every output is written
atomically by the worker, a rerun skips finished videos, and a worker killed mid-video leaves
only temporary files that the next claim of that video removes.

Ray is an optional extra (``pip install "tsl300[ray]"``), imported only here and only when a
command is run with ``--engine ray``. ``address``: ``None`` starts a private local cluster on
the loopback address for the duration of the call (shut down after it), ``"auto"`` joins the
cluster this machine belongs to (``ray start`` was run), ``HOST:PORT`` joins that cluster's head.
A cluster already initialised in this process (``ray.init`` by the caller) is used as it is.
Workers on other machines need tsl300 installed and the inputs and output folder at the same
paths (a shared filesystem).
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import Tsl300Error

INSTALL_HINT = 'pip install "tsl300[ray]"'
DEFAULT_RETRIES = 2  # a task whose worker dies is run again this many times, then reported


def import_ray():
    """``ray``, or a user-facing error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise Tsl300Error(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


# Ray binds its servers to the node's address, which it resolves to the machine's network
# address even when given 127.0.0.1, unless "cluster mode" is off: then every server of the
# node (GCS, raylet, workers, agents) listens on the loopback address only.
_LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback_mode():
    """``ray``, set to use (and to reach) nodes on the loopback address."""
    os.environ[_LOOPBACK_ONLY_ENV] = "0"  # read when ray is first imported ...
    ray = import_ray()
    from ray._private import ray_constants  # ... and when a node starts or is joined

    ray_constants.ENABLE_RAY_CLUSTER = False
    return ray


def start_local(num_cpus: int | None = None):
    """Start a private Ray node on this machine, reachable on the loopback address only, with
    no dashboard; the caller shuts it down (``ray.shutdown()``)."""
    ray = _loopback_mode()
    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    return ray


def _is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0] if ":" in address else address
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


@contextlib.contextmanager
def cluster(address: str | None = None, num_cpus: int | None = None):
    """Ray connected to ``address`` (or a private loopback cluster), shut down on exit when
    this call started it."""
    ray = _loopback_mode() if address and _is_loopback(address) else import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        start_local(num_cpus)
    try:
        yield ray
    finally:
        ray.shutdown()


def largest_first(jobs: Sequence[tuple], path_of: Callable[[tuple], Any]) -> list[tuple]:
    """Jobs by decreasing input size, so that the long videos do not end the batch alone."""
    def size(job: tuple) -> int:
        try:
            return os.stat(path_of(job)).st_size
        except OSError:
            return 0
    return sorted(jobs, key=lambda job: -size(job))


def run_tasks(fn: Callable, jobs: Sequence[tuple], *, address: str | None = None, num_cpus: int | None = None,
              retries: int = DEFAULT_RETRIES) -> Iterator[tuple[tuple, Any, str | None]]:
    """``fn(*job)`` as one Ray task per job (submitted in the given order), yielded as each
    finishes: ``(job, result, None)`` or ``(job, None, error)`` once its retries are spent.

    A worker that dies (killed, out of memory, a crashing decoder) and an exception raised by
    ``fn`` both make Ray run the task again, up to ``retries`` times.
    """
    if not jobs:
        return
    with cluster(address, num_cpus) as ray:
        remote = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=True)(fn)
        by_ref = {remote.remote(*job): job for job in jobs}
        pending = list(by_ref)
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                try:
                    yield by_ref[ref], ray.get(ref), None
                except ray.exceptions.RayError as exc:
                    yield by_ref[ref], None, describe_failure(exc, retries)


def describe_failure(exc: BaseException, retries: int) -> str:
    """One line for the per-file report: what Ray saw, after how many attempts."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):  # fn raised: name the original exception
        text = f"{type(cause).__name__}: {cause}"
    else:
        text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return f"failed on Ray after {retries + 1} attempt(s): {text}"


def add_engine_arguments(parser) -> None:
    """``--engine``, ``--address``, ``--retries``: the same three flags on every per-video command."""
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this machine's processes (--workers); ray: one Ray task per video "
                             f"(needs {INSTALL_HINT})")
    parser.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                        help="--engine ray: the cluster to join (default: a private local cluster with "
                             "--workers CPUs, or all cores)")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                        help=f"--engine ray: runs of a task after its worker dies (default {DEFAULT_RETRIES})")

"""Issue 18 item 6: a SIGTERM to ``tsl300 extract --workers 2`` ends its workers and the
multiprocessing resource tracker too (they used to run on forever, about 850 MB each).

A real ``python -m tsl300 extract`` is started; its child processes are found in /proc.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tsl300.io.synthetic import write_video

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _children() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_to_extract_ends_its_workers(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(8):
        write_video(videos / f"v{i}.mp4", 20.0, tones=[(0.0, 20.0, 220.0 + 40 * i)])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tsl300", "extract", str(videos), "-o", str(tmp_path / "out"),
                             "--workers", "2", "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _descendants(proc.pid)
            if len([p for p in seen if _alive(p)]) >= 3:  # two workers and the resource tracker
                break
            time.sleep(0.05)
        assert proc.poll() is None, "extract finished before its workers could be seen"
        assert len(seen) >= 2, seen
        time.sleep(0.5)
        seen |= _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in seen):
            time.sleep(0.1)
        assert [p for p in seen if _alive(p)] == [], "worker processes outlived the SIGTERMed extract"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in seen:  # never leave orphans behind, whatever happened
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

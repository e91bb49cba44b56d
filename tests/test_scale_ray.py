"""``--engine ray``: per-video jobs on a local Ray cluster that the tests start (two CPUs, loopback
only, no dashboard) and shut down; a worker is killed mid-batch; outputs must be byte-identical
to a local run with the same threads per process (Ray gives each task one CPU: one thread)."""
from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tsl300.cli import main
from tsl300.engine import ray_jobs
from tsl300.io.synthetic import write_video



def one_thread() -> dict:
    """This process's environment (with Ray's auth settings once the cluster is up), one thread."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ---------------------------------------------------------------- without Ray (fast)


def test_without_ray_the_flag_says_how_to_install(tmp_path, monkeypatch, capsys):
    write_video(tmp_path / "a.mp4", 1.0, fps=16)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["extract", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "out"), "-q", "--engine", "ray"]) == 1
    assert 'pip install "tsl300[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work
    assert main(["localize", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "loc"), "--engine", "ray"]) == 1
    assert 'pip install "tsl300[ray]"' in capsys.readouterr().err and not (tmp_path / "loc").exists()


def test_ray_is_imported_only_when_asked_for():
    code = ("import sys, tsl300.cli; p = tsl300.cli.build_parser(); "
            "p.parse_args(['extract', 'x', '-o', 'y', '--engine', 'ray']); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_largest_first(tmp_path):
    for name, size in (("small", 10), ("big", 1000), ("mid", 100)):
        (tmp_path / name).write_bytes(b"x" * size)
    jobs = [(str(tmp_path / n), n) for n in ("small", "missing", "big", "mid")]
    assert [j[1] for j in ray_jobs.largest_first(jobs, lambda j: j[0])] == ["big", "mid", "small", "missing"]


# ---------------------------------------------------------------- a local cluster


@pytest.fixture(scope="module")
def cluster():
    """Two worker CPUs on 127.0.0.1; yields its GCS address; always shut down."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dev]' or '.[ray]')")
    if ray.is_initialized():
        ray.shutdown()
    ray_jobs.start_local(num_cpus=2)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for i in range(4):
        write_video(folder / f"clip{i}.mp4", 3.0 + 1.5 * i, fps=16, size=(96, 72),
                    tones=[(0.3, 2.0, 200.0 + 60 * i)])
    (folder / "broken.mp4").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory):
    """The local engine's features, one thread per process (a subprocess: BLAS reads its thread
    count when loaded)."""
    out = tmp_path_factory.mktemp("local")
    run = subprocess.run([sys.executable, "-m", "tsl300", "extract", str(videos), "-o", str(out), "-q"],
                         env=one_thread(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "broken.mp4" in run.stderr
    return out


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        out += frontier
    return out


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Killer(threading.Thread):
    """SIGKILLs the first Ray worker of this test process seen running task ``name`` for
    ``after_s`` (so it dies mid-video)."""

    def __init__(self, name: str, after_s: float = 0.3):
        super().__init__(daemon=True)
        self.name, self.after_s, self.killed, self.stop = name, after_s, None, threading.Event()

    def run(self) -> None:
        seen: dict[int, float] = {}
        while not self.stop.is_set():
            now = time.monotonic()
            for pid in _descendants(os.getpid()):
                if _title(pid).startswith(f"ray::{self.name}"):
                    if now - seen.setdefault(pid, now) >= self.after_s:
                        os.kill(pid, signal.SIGKILL)
                        self.killed = pid
                        return
            time.sleep(0.02)


def _features(out: Path) -> list[Path]:
    return sorted(p.relative_to(out) for p in (out / "features").rglob("*.npy"))


def _same_outputs(a: Path, b: Path) -> None:
    assert _features(a) == _features(b) and len(_features(a)) == 8
    for rel in _features(a):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    for name in ("fps_dict.json", "len_duration_dict.json"):
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text())


@pytest.mark.slow
def test_cluster_is_loopback_only(cluster):
    import ray

    assert cluster.startswith("127.0.0.1:")
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    assert ray.cluster_resources()["CPU"] == 2
    inodes = set()
    for pid in [os.getpid()] + _descendants(os.getpid()):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN, ours
                listening.append(fields[1].rsplit(":", 1)[0])
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    assert listening and set(listening) <= loopback, listening


@pytest.mark.slow
def test_extract_on_ray_survives_a_killed_worker(cluster, videos, reference, tmp_path, capsys):
    out = tmp_path / "ray"
    killer = Killer("extract_one")
    killer.start()
    try:
        code = main(["extract", str(videos), "-o", str(out), "-q", "--engine", "ray"])
    finally:
        killer.stop.set()
        killer.join()
    captured = capsys.readouterr()
    assert killer.killed is not None, "no worker was running a video to kill"
    assert code == 1 and "extracted 4" in captured.out and "failed 1" in captured.out
    assert "broken.mp4: not a readable media file" in captured.err  # per-file report, as locally
    _same_outputs(reference, out)  # the killed video was run again, byte for byte the same
    assert not list(out.rglob("*.tmp"))
    assert main(["extract", str(videos), "-o", str(out), "-q", "--engine", "ray"]) == 1
    assert "extracted 0, skipped 4 already done" in capsys.readouterr().out


@pytest.mark.slow
def test_a_task_out_of_retries_is_reported_and_a_rerun_finishes_it(cluster, videos, reference, tmp_path, capsys):
    from tsl300.extractors import FeatureStore

    out = tmp_path / "ray"
    killer = Killer("extract_one")
    killer.start()
    try:
        code = main(["extract", str(videos), "-o", str(out), "-q", "--engine", "ray", "--retries", "0"])
    finally:
        killer.stop.set()
        killer.join()
    err = capsys.readouterr().err
    assert killer.killed is not None
    lost = sorted({line.strip().removeprefix("failed: ") for line in err.splitlines()
                   if "failed on Ray after 1 attempt(s)" in line})  # progress line + final report
    assert code == 1 and len(lost) == 1 and "WorkerCrashedError" in lost[0], err
    vid = Path(lost[0].split(":")[0]).stem
    store = FeatureStore(out, "test")
    assert not store.is_done(vid, ["visual_stats", "audio_prosody"])
    assert all(store.is_done(f"clip{i}", ["visual_stats", "audio_prosody"]) for i in range(4) if f"clip{i}" != vid)
    # the local engine picks up where Ray stopped (same files, claims and resume rules)
    run = subprocess.run([sys.executable, "-m", "tsl300", "extract", str(videos), "-o", str(out), "-q"],
                         env=one_thread(), capture_output=True, text=True, timeout=300)
    assert "extracted 1, skipped 3 already done" in run.stdout, run.stdout + run.stderr
    _same_outputs(reference, out)
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_localize_on_ray_joins_a_cluster_by_address_and_matches_local(cluster, videos, tmp_path):
    clips = [str(videos / f"clip{i}.mp4") for i in (0, 1)]
    local, remote = tmp_path / "local", tmp_path / "ray"
    for out, extra in ((local, []), (remote, ["--engine", "ray", "--address", cluster])):
        run = subprocess.run([sys.executable, "-m", "tsl300", "localize", *clips, "-o", str(out), "-f", "csv",
                              "--combined", str(out / "all.json"), "--quiet", "--device", "cpu", *extra],
                             env=one_thread(), capture_output=True, text=True, timeout=150)
        assert run.returncode == 0, run.stderr
    written = sorted(p.name for p in local.iterdir())
    assert written == sorted(p.name for p in remote.iterdir()) and len(written) == 5
    for name in written:
        assert filecmp.cmp(local / name, remote / name, shallow=False), name
    assert json.loads((remote / "all.json").read_text())["results"].keys() == {"clip0", "clip1"}
    import ray

    assert ray.is_initialized()  # the command only disconnected from the test's cluster

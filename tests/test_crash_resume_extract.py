"""Crash and resume of ``tsl300 extract``, and two extract processes sharing one output folder.

- Every write point: a crash (an exception out of the n-th rename, for every n) leaves only
  complete files, and a rerun finishes with outputs equal to an uninterrupted run.
- Real kills: an extract process (forked, so it starts in milliseconds) is SIGKILLed at seeded
  random points, three times in a row on one output folder, then rerun: same bytes as an
  uninterrupted run, and at every kill no file a later step reads is partial (each ``.npy``
  loads; a video listed in ``fps_dict.json`` has all its arrays). Temporary files are
  dot-files no reader opens.
- Two extract processes started together on one output folder (forked, so their work
  overlaps; and two ``python -m tsl300 extract``) both succeed, each video is extracted once (a
  per-video claim), and the result equals a single run.

The hand-made ``visual_stats`` extractor keeps these fast; the store and the resume logic are
the same for every extractor.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import dying_at_rename
from tsl300.cli import main
from tsl300.io.synthetic import write_video

REPO = Path(__file__).resolve().parents[1]
N_VIDEOS = 4


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for k in range(N_VIDEOS):
        write_video(folder / f"vid{k}.mp4", 0.7 + 0.2 * k, fps=25, tones=[(0.2, 0.7, 300 + 50 * k)],
                    colour=lambda t, k=k: (40 * k, int(200 * t) % 256, 90))
    return folder


EXTRACT = ["--extractors", "visual_stats", "-q"]


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    assert main(["extract", str(videos), "-o", str(out), *EXTRACT]) == 0
    return out


def visible_files(root: Path) -> dict[str, Path]:
    """Files a later step may read: everything except dot-files (temporaries, locks, claims)."""
    return {str(p.relative_to(root)): p for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def assert_no_partial_file(out: Path, reference: Path) -> None:
    """Each visible file is whole; each video marked done has every array, equal to the reference."""
    ref = visible_files(reference)
    for rel, path in visible_files(out).items():
        assert rel in ref, f"unexpected file {rel}"
        if path.suffix == ".npy":
            np.testing.assert_array_equal(np.load(path, allow_pickle=False), np.load(ref[rel]), err_msg=rel)
        elif path.suffix == ".json":
            json.loads(path.read_text())
    fps = out / "fps_dict.json"
    done = json.loads(fps.read_text()) if fps.exists() else {}
    for vid in done:
        for modality in ("visual_stats",):
            assert (out / "features" / "test" / modality / f"{vid}.npy").is_file(), (vid, modality)


def assert_same_as_reference(out: Path, reference: Path) -> None:
    got, ref = visible_files(out), visible_files(reference)
    assert sorted(got) == sorted(ref)
    for rel in ref:
        if rel.endswith(".json"):
            assert json.loads(got[rel].read_text()) == json.loads(ref[rel].read_text()), rel
        else:
            assert got[rel].read_bytes() == ref[rel].read_bytes(), rel


def test_a_crash_at_every_write_point_resumes_to_the_same_result(videos, tmp_path, monkeypatch, capsys):
    inputs = [str(videos / "vid0.mp4"), str(videos / "vid1.mp4"), *EXTRACT]
    ref = tmp_path / "ref"
    assert main(["extract", *inputs, "-o", str(ref)]) == 0
    real_replace = os.replace
    writes = []
    monkeypatch.setattr(os, "replace", lambda s, d: writes.append(d) or real_replace(s, d))
    assert main(["extract", *inputs, "-o", str(tmp_path / "count")]) == 0
    monkeypatch.setattr(os, "replace", real_replace)
    n_writes = len(writes)
    assert n_writes == 1 + 2 * 3  # spec.json, then per video: its array and two dict entries

    for crash_at in range(n_writes):
        out = tmp_path / f"crash{crash_at}"
        with dying_at_rename(monkeypatch, crash_at):
            main(["extract", *inputs, "-o", str(out)])
        assert_no_partial_file(out, ref)
        assert not [p for p in out.rglob("*.tmp")], "temporary file left behind"
        assert main(["extract", *inputs, "-o", str(out)]) == 0
        assert_same_as_reference(out, ref)
    capsys.readouterr()


def test_temporary_files_of_a_killed_writer_are_cleared_on_the_rerun(videos, reference, tmp_path, capsys):
    """A SIGKILL mid-write leaves ``.NAME.*.tmp`` files (no one reads them); the rerun removes
    those of every video it claims and those of the shared dictionaries, under their locks."""
    out = tmp_path / "out"
    assert main(["extract", str(videos / "vid0.mp4"), "-o", str(out), *EXTRACT]) == 0
    folder = out / "features" / "test" / "visual_stats"
    stale = [folder / ".vid1.npy.k1ll3d.tmp", folder / ".vid2.npy.abc.tmp", out / ".fps_dict.json.xyz.tmp",
             out / ".len_duration_dict.json.q.tmp"]
    for path in stale:
        path.write_bytes(b"half a write")
    keep = folder / ".vid1.npy.notes"  # not a temp file of ours
    keep.write_text("mine")
    capsys.readouterr()
    assert main(["extract", str(videos), "-o", str(out), *EXTRACT]) == 0
    assert not [p for p in stale if p.exists()]
    assert keep.read_text() == "mine"
    keep.unlink()
    assert_same_as_reference(out, reference)


def _extract_process(videos: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "tsl300", "extract", str(videos), "-o", str(out), *EXTRACT],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _forked_extract(argv: list[str], log: str = os.devnull) -> None:
    with open(log, "w") as sink:
        sys.stdout = sys.stderr = sink
        code = main(argv)
        sink.flush()
    os._exit(code)


def test_two_forked_processes_at_once_share_the_work(videos, reference, tmp_path):
    """Forked processes start within milliseconds of each other, so their work really overlaps."""
    out = tmp_path / "out"
    argv = ["extract", str(videos), "-o", str(out), *EXTRACT]
    context = multiprocessing.get_context("fork")
    logs = [tmp_path / f"log{k}.txt" for k in range(2)]
    procs = [context.Process(target=_forked_extract, args=(argv, str(log))) for log in logs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0], [log.read_text() for log in logs]
    texts = [log.read_text() for log in logs]
    extracted = [int(text.split("extracted ")[1].split(",")[0]) for text in texts]
    assert sum(extracted) == N_VIDEOS, texts  # no video done twice
    assert_same_as_reference(out, reference)


def test_sigkill_at_random_points_then_rerun(videos, reference, tmp_path, capsys):
    rng = np.random.default_rng(20261130)
    out = tmp_path / "out"
    total = len(visible_files(reference))
    argv = ["extract", str(videos), "-o", str(out), *EXTRACT]
    kills = 0
    for _round in range(3):
        before = len(visible_files(out)) if out.exists() else 0
        if before >= total - 1:
            break
        target = int(rng.integers(before + 1, total))  # kill once this many files exist ...
        delay = float(rng.uniform(0, 0.02))  # ... plus a random part of the next write
        proc = multiprocessing.get_context("fork").Process(target=_forked_extract, args=(argv,))
        proc.start()
        deadline = time.monotonic() + 60
        while proc.is_alive() and time.monotonic() < deadline:
            if out.exists() and len(visible_files(out)) >= target:
                time.sleep(delay)
                break
            time.sleep(0.001)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.join(30)
        assert_no_partial_file(out, reference)
    assert kills >= 1
    fps = out / "fps_dict.json"
    done_before = len(json.loads(fps.read_text())) if fps.exists() else 0
    capsys.readouterr()
    assert main(argv) == 0
    assert f"extracted {N_VIDEOS - done_before}, skipped {done_before} already done, failed 0" in capsys.readouterr().out
    assert_same_as_reference(out, reference)


@pytest.mark.slow
def test_two_processes_on_one_output_folder(videos, reference, tmp_path):
    out = tmp_path / "shared_out"
    procs = [_extract_process(videos, out) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr
    assert_same_as_reference(out, reference)
    extracted = [int(stdout.split("extracted ")[1].split(",")[0]) for stdout, _ in outputs]
    assert sum(extracted) == N_VIDEOS, [o for o, _ in outputs]  # no video done twice

"""``tsl300 extract``: layout, spec, markers, dictionaries, resume, per-file errors, workers."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tsl300.cli import main
from tsl300.io.synthetic import write_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "talk.mp4", 1.5, fps=16, tones=[(0.2, 1.0, 220.0)])
    write_video(folder / "nested_mute.mp4", 1.0, fps=16, audio=False)
    (folder / "broken.mp4").write_text("not a video")
    return folder


def test_folder_batch_writes_layout_and_reports_failures(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["extract", str(inputs), "-o", str(out), "--split", "train", "-q"])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.mp4" in captured.err and "not a readable media file" in captured.err
    assert "extracted 2" in captured.out and "failed 1" in captured.out
    feats = out / "features" / "train"
    vs = np.load(feats / "visual_stats" / "talk.npy")
    ap = np.load(feats / "audio_prosody" / "talk.npy")
    assert vs.shape == (2, 62) and ap.shape == (2, 46) and ap.any()
    assert (feats / "audio_prosody" / "nested_mute.missing").exists()
    assert not np.load(feats / "audio_prosody" / "nested_mute.npy").any()
    spec = json.loads((feats / "visual_stats" / "spec.json").read_text())
    assert spec["name"] == "visual_stats" and spec["shape"] == [62]
    fps = json.loads((out / "fps_dict.json").read_text())
    assert fps == {"nested_mute": 16.0, "talk": 16.0}
    durations = json.loads((out / "len_duration_dict.json").read_text())
    assert durations == {"nested_mute": 1.0, "talk": 1.5}
    assert not list(out.rglob("*.tmp"))


def test_resume_skips_finished_files(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{inputs / 'talk.mp4'}\n# comment\n\n")
    assert main(["extract", "--list", str(listing), "-o", str(out), "-q"]) == 0
    npy = out / "features" / "test" / "visual_stats" / "talk.npy"
    stamp = npy.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["extract", "--list", str(listing), "-o", str(out), "-q"]) == 0
    assert "skipped 1" in capsys.readouterr().out and npy.stat().st_mtime_ns == stamp
    (out / "features" / "test" / "audio_prosody" / "talk.npy").unlink()     # an interrupted video
    assert main(["extract", "--list", str(listing), "-o", str(out), "-q"]) == 0
    assert (out / "features" / "test" / "audio_prosody" / "talk.npy").exists()


def test_options_and_spec_conflicts(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    video = str(inputs / "talk.mp4")
    assert main(["extract", video, "-o", str(out), "--extractors", "visual_stats",
                 "--set", "visual_stats.short_side=32", "-q"]) == 0
    assert json.loads((out / "features/test/visual_stats/spec.json").read_text())["params"]["short_side"] == 32
    assert main(["extract", video, "-o", str(out), "--extractors", "visual_stats", "-q", "--overwrite"]) == 1
    assert "spec" in capsys.readouterr().err
    assert main(["extract", video, "-o", str(out), "--extractors", "nope"]) == 1


@pytest.mark.slow      # spawning worker processes re-imports torch/librosa (~10 s)
def test_parallel_workers(inputs, tmp_path):
    out = tmp_path / "out"
    files = [str(inputs / "talk.mp4"), str(inputs / "nested_mute.mp4")]
    assert main(["extract", *files, "-o", str(out), "--workers", "2", "--extractors", "visual_stats", "-q"]) == 0
    assert sorted(n for n in os.listdir(out / "features/test/visual_stats") if not n.startswith(".")) == ["nested_mute.npy", "spec.json", "talk.npy"]
    assert set(json.loads((out / "fps_dict.json").read_text())) == {"talk", "nested_mute"}

"""Writers: a dataset written with write_layout reads back identically; writes are atomic."""
from __future__ import annotations

import json
import os

import numpy as np

from tsl300.data import load_dataset, write_features, write_layout
from tsl300.data.io import atomic_write_text
from tsl300.data.synth import generate


def test_write_layout_round_trip(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    generate(src, n_train=3, n_test=2, seed=8, snippets_mean=25)
    videos = [v for split in ("train", "test")
              for v in load_dataset(src, split, points=1, gt="videosenti")]
    write_layout(dst, videos)
    gt = json.loads((dst / "gt.json").read_text())["database"]
    assert all(e["annotations"] == [] for e in gt.values() if e["subset"] == "train")
    for split in ("train", "test"):
        before = load_dataset(src, split, points=1, gt="videosenti")
        after = load_dataset(dst, split, points=0, gt="videosenti")  # one annotator file written
        assert after.vids == before.vids
        for a, b in zip(before, after):
            assert a.num_snippets == b.num_snippets and a.fps == b.fps
            np.testing.assert_array_equal(a.features["rgb"], b.features["rgb"])
            np.testing.assert_allclose(a.features["logmfcc"], b.features["logmfcc"], atol=1e-6)
            assert np.array_equal(a.points, b.points) and np.array_equal(a.point_frames, b.point_frames)
            assert [(s.label, round(s.start, 3), round(s.end, 3)) for s in a.segments] == \
                   [(s.label, round(s.start, 3), round(s.end, 3)) for s in b.segments]
            assert abs(a.duration - b.duration) < 1e-9


def test_missing_modality_round_trips_as_a_marker(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    generate(src, n_train=2, n_test=1, seed=3, snippets_mean=20)
    vid = (src / "split_test.txt").read_text().split()[0]
    os.remove(src / "features" / "test" / "logmfcc" / f"{vid}.npy")
    write_features(src, "test", vid, {"logmfcc": None})
    assert (src / "features" / "test" / "logmfcc" / f"{vid}.missing").read_bytes() == b""
    videos = list(load_dataset(src, "train")) + list(load_dataset(src, "test"))
    write_layout(dst, videos)
    assert (dst / "features" / "test" / "logmfcc" / f"{vid}.missing").is_file()
    assert load_dataset(dst, "test").get(vid).missing == ("logmfcc",)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)

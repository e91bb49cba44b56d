"""The synthetic generator: determinism, layout, real statistics, evidence placement, CLI."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from tsl300.cli import main as cli_main
from tsl300.data import load_dataset, tsl300_annotations
from tsl300.data.stats import compute
from tsl300.data.synth import class_patterns, generate


def _digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    root = tmp_path_factory.mktemp("medium")
    meta = generate(root, n_train=24, n_test=15, seed=2, snippets_mean=100)
    return root, meta


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    generate(a, n_train=3, n_test=2, seed=1, snippets_mean=30)
    generate(b, n_train=3, n_test=2, seed=1, snippets_mean=30)
    generate(c, n_train=3, n_test=2, seed=2, snippets_mean=30)
    da, db, dc = _digests(a), _digests(b), _digests(c)
    assert da == db
    assert len(da) == 5 * 2 + 11  # 5 videos x 2 modalities, 10 annotation files, meta
    assert set(da) == set(dc)
    differing = [k for k in da if da[k] != dc[k]]
    assert "gt.json" in differing and "features/train/rgb/1_synthetic_train.npy" in differing


def test_layout_files_like_the_official_dataset(medium):
    root, meta = medium
    gt = json.loads((root / "gt.json").read_text())["database"]
    full = json.loads((root / "videosenti_gt.json").read_text())["database"]
    train = (root / "split_train.txt").read_text().split()
    test = (root / "split_test.txt").read_text().split()
    assert len(train) == 24 and len(test) == 15 and set(gt) == set(full) == set(train) | set(test)
    assert all(gt[v]["annotations"] == [] for v in train)
    assert sum(len(full[v]["annotations"]) for v in train) > 60
    assert all(gt[v]["annotations"] == full[v]["annotations"] for v in test)
    assert set(json.loads((root / "fps_dict.json").read_text())) == set(gt)
    assert set(json.loads((root / "len_duration_dict.json").read_text())) == set(gt)
    widths = []
    for k in range(3):
        table = pd.read_csv(root / "point_gaussian" / "train" / f"point_anno_{k}.txt")
        assert set(table["video_id"]) == set(train)  # every annotator marks every train video
        assert (table["point"] == (table["start_frame"] + table["stop_frame"]) // 2).all()
        assert (table["class"].map({"n": 0, "p": 1}) == table["class_index"]).all()
        widths.append((table["stop_frame"] - table["start_frame"]).mean())
    assert widths[0] < widths[1] < widths[2]
    assert 1 < widths[0] < 4 and 5 < widths[1] < 13 and 35 < widths[2] < 75
    seeded = load_dataset(root, "train", points="random", seed=2)
    from_csv = load_dataset(root, "train", points="csv")
    assert all(np.array_equal(a.points, b.points) for a, b in zip(seeded, from_csv))
    assert meta["layout"] == "tsl300" and json.loads((root / "synthetic_meta.json").read_text())["seed"] == 2


def test_features_shapes_and_ranges(medium):
    root, _ = medium
    ds = load_dataset(root, "test", check_values=True)
    for video in ds[:5]:
        rgb_rows = np.load(root / "features" / "test" / "rgb" / f"{video.vid}.npy", mmap_mode="r").shape[0]
        mel = np.load(root / "features" / "test" / "logmfcc" / f"{video.vid}.npy", mmap_mode="r")
        assert mel.shape[1] == 60 and mel.shape[0] >= 32 * video.num_snippets
        assert video.num_snippets == min(rgb_rows, mel.shape[0] // 32)
        assert mel.max() - mel.min() <= 80.0 + 1e-3 and -90 < mel.min() and mel.max() < 40
        assert video.features["rgb"].min() >= 0
        assert all(s.end <= video.num_snippets * 16 / video.fps + 1e-3 for s in video.segments)


def test_segment_statistics_follow_the_real_templates(tmp_path):
    meta = generate(tmp_path, n_train=6, n_test=3, seed=4)  # real durations
    real = json.loads((tsl300_annotations() / "videosenti_gt.json").read_text())["database"]
    fps = json.loads((tsl300_annotations() / "fps_dict.json").read_text())
    durations = json.loads((tsl300_annotations() / "len_duration_dict.json").read_text())
    templates = set()
    for vid, info in meta["videos"].items():
        tpl = info["template"]
        templates.add(tpl)
        assert real[tpl]["subset"] in vid
        assert info["fps"] == fps[tpl]
        assert 0.9 * durations[tpl] <= info["duration"] <= 1.1 * durations[tpl]
        ref = [(a["label"], float(a["segment"][1]) - float(a["segment"][0])) for a in real[tpl]["annotations"]]
        ours = [(s["label"], s["end"] - s["start"]) for s in info["segments"]]
        same = lambda a, b: a[0] == b[0] and (abs(a[1] - b[1]) < 2e-3 or a[1] <= 2 * 16 / info["fps"] + 2e-3)
        if sum(length for _, length in ref) <= 0.7 * 0.9 * durations[tpl] - 1:
            assert len(ours) == len(ref) and all(map(same, ours, ref))
        else:  # too much to fit after the duration jitter: some segments are dropped, order kept
            it = iter(ref)
            assert all(any(same(o, r) for r in it) for o in ours)
    assert len(templates) == 9  # drawn without replacement while the pool lasts


@pytest.mark.parametrize("modality", ["rgb", "logmfcc"])
def test_class_evidence_is_inside_segments_in_the_carrying_modality(medium, modality):
    root, meta = medium
    pattern = class_patterns(seed=2)[modality]            # (C, D): n, p
    axis = pattern[1] - pattern[0]
    test = load_dataset(root, "test", points="none")
    side = {True: [], False: []}      # class-axis score relative to the video's background
    lift = {True: [], False: []}      # projection on the segment's own class pattern vs background
    for video in test:
        x = video.features[modality]
        x = x.mean(axis=1) if x.ndim == 3 else x            # log-mel: mean over the 32 frames
        t = (np.arange(len(x)) + 0.5) * 16 / video.fps
        segs = meta["videos"][video.vid]["segments"]
        fg = np.zeros(len(x), bool)
        for seg in segs:
            fg |= (t >= seg["start"]) & (t < seg["end"])
        for seg in segs:
            inside = (t >= seg["start"]) & (t < seg["end"])
            if seg["strength"] < 1 or not inside.any():
                continue
            carried = modality in seg["modalities"]
            sign = 1 if seg["label"] == "p" else -1
            side[carried].append(sign * ((x[inside] @ axis).mean() - (x[~fg] @ axis).mean()))
            own = pattern[1 if seg["label"] == "p" else 0]
            lift[carried].append((x[inside] @ own).mean() - (x[~fg] @ own).mean())
    assert len(side[True]) >= 10 and len(side[False]) >= 5
    assert np.mean(np.array(side[True]) > 0) > 0.9           # the right class, where the segment is
    assert np.mean(np.array(lift[True]) > 0) > 0.8
    # a segment carried only by the other modality leaves little class evidence here
    assert np.mean(np.abs(side[False])) < 0.5 * np.mean(side[True])


def test_points_partly_inside_same_class_segments_as_in_real_data(medium):
    root, _ = medium
    shares = {name: s["inside"] for name, s in compute(root)["points"].items()}
    assert 0.35 < shares["point_labels.csv"] < 0.8
    assert shares["point_anno_2.txt"] < max(shares["point_anno_0.txt"], shares["point_anno_1.txt"])


def _synth_cli(argv):
    """The synth command alone (no import of the other commands and torch)."""
    import argparse

    from tsl300.commands import synth as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def test_cli_is_discovered(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["synth", str(out), "--videos", "3", "--snippets-mean", "20", "--seed", "9"]) == 0
    assert "3 videos (2 train, 1 test" in capsys.readouterr().out
    assert len((out / "split_train.txt").read_text().split()) == 2


def test_cli_generic_modalities_and_bad_arguments(tmp_path):
    gen = tmp_path / "generic"
    assert _synth_cli([str(gen), "--train", "2", "--test", "1", "--snippets-mean", "20",
                       "--modalities", "rgb:16,audio:8"]) == 0
    ds = load_dataset(gen, "train")
    assert ds.layout == "generic" and ds.modality_shapes == {"audio": (8,), "rgb": (16,)}
    assert ds.specs["audio"]["dims"] == [8] and ds.specs["audio"]["synthetic"] is True
    for bad in (["--videos", "3", "--train", "2"], ["--modalities", "face"], ["--snippets-mean", "3"]):
        with pytest.raises(SystemExit, match="tsl300 synth: error"):
            _synth_cli([str(tmp_path / "x")] + bad)

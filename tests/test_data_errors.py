"""Every kind of bad dataset gives one DataError that names the file and the problem."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tsl300.data import load_dataset, write_features, write_spec
from tsl300.data.synth import generate
from tsl300.errors import DataError


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("base")
    generate(root, n_train=3, n_test=2, seed=5, snippets_mean=24)
    return root


@pytest.fixture
def root(base, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(base, dst)
    return dst


def _first(root, split="train"):
    return (root / f"split_{split}.txt").read_text().split()[0]


def _raises(root, *match, split="train", **kwargs):
    with pytest.raises(DataError) as info:
        load_dataset(root, split, **kwargs)
    message = str(info.value)
    for m in match:
        assert m in message, message
    return message


def test_the_fixture_loads(root):
    assert len(load_dataset(root, "train", check_values=True)) == 3


@pytest.mark.parametrize("rel", ["split_train.txt", "gt.json", "fps_dict.json",
                                 "point_gaussian/train/point_anno_1.txt"])
def test_missing_annotation_file(root, rel):
    (root / rel).unlink()
    if rel.endswith("point_anno_1.txt"):  # two files left: the draw is over them, still fine
        load_dataset(root, "train")
        shutil.rmtree(root / "point_gaussian" / "train")
        rel = "point_gaussian/train"
    _raises(root, str(root / rel), "missing")


def test_missing_point_labels_csv_when_asked(root):
    (root / "point_gaussian" / "point_labels.csv").unlink()
    _raises(root, "point_labels.csv", "missing", points="csv")


def test_missing_feature_file(root):
    vid = _first(root)
    path = root / "features" / "train" / "logmfcc" / f"{vid}.npy"
    path.unlink()
    _raises(root, str(path), "missing file")


def test_missing_marker_fills_zeros_and_is_listed(root):
    vid = _first(root)
    (root / "features" / "train" / "logmfcc" / f"{vid}.npy").unlink()
    (root / "features" / "train" / "logmfcc" / f"{vid}.missing").write_bytes(b"")
    video = load_dataset(root, "train").get(vid)
    assert video.missing == ("logmfcc",)
    assert video.features["logmfcc"].shape == (video.num_snippets, 32, 60)
    assert not video.features["logmfcc"].any()
    rgb_rows = np.load(root / "features" / "train" / "rgb" / f"{vid}.npy").shape[0]
    assert video.num_snippets == rgb_rows  # T from the modalities present


def test_allow_missing_argument_and_spec_flag(root):
    vid = _first(root)
    (root / "features" / "train" / "logmfcc" / f"{vid}.npy").unlink()
    assert load_dataset(root, "train", allow_missing=True).get(vid).missing == ("logmfcc",)
    write_spec(root, "train", "logmfcc", {"name": "x", "allow_missing": True})
    ds = load_dataset(root, "train")
    assert ds.get(vid).missing == ("logmfcc",) and ds.specs["logmfcc"]["name"] == "x"


def test_point_beyond_the_video(root):
    vid = _first(root)
    path = root / "point_gaussian" / "train" / "point_anno_0.txt"
    table = pd.read_csv(path)
    T = load_dataset(root, "train", points=0).lengths[vid]
    table.loc[table["video_id"] == vid, "point"] = 16 * T  # first frame of snippet T
    table.to_csv(path, index=False)
    _raises(root, str(path), vid, "beyond", f"snippet {T}", points=0)


def test_unknown_class_in_ground_truth(root):
    path = root / "videosenti_gt.json"
    data = json.loads(path.read_text())
    vid = _first(root)
    data["database"][vid]["annotations"].append({"segment": ["1.0", "2.0"], "label": "neutral"})
    path.write_text(json.dumps(data))
    _raises(root, str(path), "unknown class label 'neutral'", gt="videosenti")


@pytest.mark.parametrize("column,value,match", [("class", "x", "unknown class label 'x'"),
                                                ("class_index", 7, "class_index 7"),
                                                ("point", -3, "integers >= 0")])
def test_bad_point_rows(root, column, value, match):
    path = root / "point_gaussian" / "point_labels.csv"
    table = pd.read_csv(path)
    table.loc[0, column] = value
    table.to_csv(path, index=False)
    _raises(root, str(path), match, points="csv")


def test_nan_features_name_the_video(root):
    vid = _first(root, "test")
    path = root / "features" / "test" / "rgb" / f"{vid}.npy"
    rgb = np.load(path)
    rgb[3, 7] = np.nan
    np.save(path, rgb)
    ds = load_dataset(root, "test")  # headers are fine
    with pytest.raises(DataError, match="NaN/inf") as info:
        ds.get(vid)
    assert str(path) in str(info.value) and vid in str(info.value) and "snippet 3" in str(info.value)
    _raises(root, str(path), vid, "NaN", split="test", check_values=True)


def test_generic_layout_length_rule(root):
    vid = _first(root)
    lengths = load_dataset(root, "train").lengths
    T = lengths[vid]
    for other, n in lengths.items():
        write_features(root, "train", other, {"face": np.ones((n, 8)), "text": np.ones((n, 4))})
    write_features(root, "train", vid, {"text": np.ones((T + 1, 4))})  # one snippet longer: fine
    ds = load_dataset(root, "train", modalities=["rgb", "face", "text"])
    assert ds.layout == "generic" and ds.lengths[vid] == T
    assert ds.modality_shapes == {"rgb": (1024,), "face": (8,), "text": (4,)}
    write_features(root, "train", vid, {"text": np.ones((T + 2, 4))})
    _raises(root, vid, "unequal length", "text: ", modalities=["rgb", "face", "text"])


def test_tsl300_layout_uses_the_official_min_rule(root):
    vid = _first(root)
    path = root / "features" / "train" / "rgb" / f"{vid}.npy"
    rgb = np.load(path)
    np.save(path, rgb[:-5])
    assert load_dataset(root, "train", points="none").lengths[vid] == rgb.shape[0] - 5


def test_per_snippet_shape_mismatch(root):
    vids = (root / "split_train.txt").read_text().split()
    path = root / "features" / "train" / "rgb" / f"{vids[1]}.npy"
    np.save(path, np.zeros((50, 512), np.float32))
    _raises(root, str(path), "per-snippet shape (512,)")


def test_duplicate_ids_in_a_split(root):
    path = root / "split_train.txt"
    vids = path.read_text().split()
    path.write_text("\n".join(vids + [vids[0]]) + "\n")
    _raises(root, str(path), "duplicate video id")


@pytest.mark.parametrize("rel", ["gt.json", "fps_dict.json"])
def test_malformed_json(root, rel):
    (root / rel).write_text('{"database": {')
    _raises(root, str(root / rel), "malformed JSON")


def test_malformed_csv(root):
    path = root / "point_gaussian" / "point_labels.csv"
    path.write_text("video,frame\na,1\n")
    _raises(root, str(path), "missing column", points="csv")


def test_not_an_npy_file(root):
    path = root / "features" / "test" / "rgb" / f"{_first(root, 'test')}.npy"
    path.write_bytes(b"this is not numpy")
    _raises(root, str(path), "cannot read features", split="test")


def test_one_dimensional_features(root):
    path = root / "features" / "test" / "rgb" / f"{_first(root, 'test')}.npy"
    np.save(path, np.zeros(40, np.float32))
    _raises(root, str(path), "2-D", split="test")


@pytest.mark.parametrize("vid", ["../escape", "a/b", "..", "a\\b"])
def test_video_ids_cannot_leave_the_dataset(root, vid):
    path = root / "split_test.txt"
    path.write_text(vid + "\n")
    _raises(root, str(path), "invalid video id", split="test")


def test_video_missing_from_gt_or_fps(root):
    vid = _first(root, "test")
    fps_path = root / "fps_dict.json"
    fps = json.loads(fps_path.read_text())
    del fps[vid]
    fps_path.write_text(json.dumps(fps))
    _raises(root, str(fps_path), vid, "no fps", split="test")


def test_bad_segment_times(root):
    path = root / "gt.json"
    data = json.loads(path.read_text())
    vid = _first(root, "test")
    data["database"][vid]["annotations"] = [{"segment": ["5.0", "oops"], "label": "p"}]
    path.write_text(json.dumps(data))
    _raises(root, str(path), vid, "annotation 0", split="test")

"""The TSL-300 loader on the real shipped annotations with a few small feature files."""
from __future__ import annotations

import csv
import hashlib
import json
import random
import shutil

import numpy as np
import pytest
from conftest import shared_path

from tsl300.data import load_dataset, official_annotator_choice, tsl300_annotations
from tsl300.data.io import natsorted
from tsl300.data.resources import SHIPPED_FILES
from tsl300.data.synth import official_logmel_frames

N_VIDS = 4


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _mel_values(n_rows):
    """dB-like values whose position is recoverable: row r, band b -> -70 + (r % 97) + b / 100."""
    r = np.arange(n_rows)[:, None] % 97
    return (-70.0 + r + np.arange(60)[None, :] / 100.0).astype(np.float32)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    """The shipped annotations with split files cut to the first N_VIDS videos and features for
    those: rgb (T_rgb, 1024) with T_rgb = ceil(frames / 16); logmfcc with the official number of
    mel frames, so the official min-truncation applies."""
    root = tmp_path_factory.mktemp("tsl300")
    src = tsl300_annotations()
    for rel in SHIPPED_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, root / rel)
    fps = json.loads((src / "fps_dict.json").read_text())
    dur = json.loads((src / "len_duration_dict.json").read_text())
    for split in ("train", "test"):
        vids = (src / f"split_{split}.txt").read_text().split()[:N_VIDS]
        (root / f"split_{split}.txt").write_text("\n".join(vids) + "\n")
        for k, vid in enumerate(vids):
            frames = int(dur[vid] * fps[vid])
            t_rgb = -(-frames // 16)
            rgb = np.random.default_rng(k).random((t_rgb, 1024), dtype=np.float32)
            mel = _mel_values(official_logmel_frames(dur[vid], fps[vid]))
            for name, arr in (("rgb", rgb), ("logmfcc", mel)):
                (root / "features" / split / name).mkdir(parents=True, exist_ok=True)
                np.save(root / "features" / split / name / f"{vid}.npy", arr)
    return root


def test_shipped_files_are_exact_copies_of_the_real_annotations():
    shared = shared_path("datasets", "tsl300")
    ours = tsl300_annotations()
    for rel in SHIPPED_FILES:
        assert hashlib.sha256((ours / rel).read_bytes()).digest() == \
            hashlib.sha256((shared / rel).read_bytes()).digest(), rel


def test_official_draw_with_seed_123_reproduces_the_shipped_point_labels_csv():
    """The official run (run_train.sh, --seed 123) wrote the shipped point_labels.csv."""
    root = tsl300_annotations() / "point_gaussian"
    files = {k: _rows(root / "train" / f"point_anno_{k}.txt") for k in range(3)}
    vids = [r["video_id"] for rows in files.values() for r in rows]
    choice = official_annotator_choice(vids, 3, seed=123)
    draw_order = [1, 0, 2]  # os.listdir order on the authors' machine
    expected = [r for vid in natsorted(set(vids)) for r in files[draw_order[choice[vid]]] if r["video_id"] == vid]
    assert expected == _rows(root / "point_labels.csv")
    assert len(expected) == 1227


def test_official_choice_replays_python_random_including_randint_0_0():
    rng = random.Random(7)
    manual = [(rng.randint(0, 2) + rng.randint(0, 0)) % 3 for _ in range(5)]
    choice = official_annotator_choice(["v10", "v2", "v1", "v3", "v20"], 3, seed=7)
    assert list(choice) == ["v1", "v2", "v3", "v10", "v20"]  # natural order
    assert list(choice.values()) == manual


def test_points_from_each_annotator_file(real_root):
    for k in range(3):
        ds = load_dataset(real_root, "train", points=k)
        rows = _rows(real_root / "point_gaussian" / "train" / f"point_anno_{k}.txt")
        for video in ds:
            mine = [r for r in rows if r["video_id"] == video.vid]
            frames = sorted(int(r["point"]) for r in mine)
            assert len(video.points) == len(mine) > 0
            assert sorted(video.point_frames.tolist()) == frames
            assert np.array_equal(video.points[:, 0], video.point_frames // 16)
            assert np.all(np.diff(video.points[:, 0]) >= 0)  # sorted by snippet
            pairs = sorted((int(r["point"]), int(r["class_index"])) for r in mine)
            assert sorted(zip(video.point_frames.tolist(), video.points[:, 1].tolist())) == pairs
            assert ds.annotator_of_video[video.vid] == k


def test_random_points_with_seed_123_equal_the_shipped_csv_and_csv_mode(real_root):
    seeded = load_dataset(real_root, "train", points="random", seed=123)
    from_csv = load_dataset(real_root, "train", points="csv")
    for a, b in zip(seeded, from_csv):
        assert np.array_equal(a.points, b.points) and np.array_equal(a.point_frames, b.point_frames)
    again = load_dataset(real_root, "train", points="random", seed=123)
    assert again.annotator_of_video == seeded.annotator_of_video
    choices = {s: tuple(official_annotator_choice(
        [r["video_id"] for r in _rows(real_root / "point_gaussian" / "train" / "point_anno_0.txt")], 3, s
    ).values()) for s in (0, 1, 123)}
    assert len(set(choices.values())) == 3  # different seeds, different draws
    # the user's point_labels.csv is never rewritten
    assert (real_root / "point_gaussian" / "point_labels.csv").read_bytes() == \
        (tsl300_annotations() / "point_gaussian" / "point_labels.csv").read_bytes()


def test_truncation_reshape_and_normalisation(real_root):
    ds = load_dataset(real_root, "train", points="none")
    assert ds.layout == "tsl300"
    assert ds.modality_shapes == {"rgb": (1024,), "logmfcc": (32, 60)}
    for video in ds:
        rgb = np.load(real_root / "features" / "train" / "rgb" / f"{video.vid}.npy")
        mel = np.load(real_root / "features" / "train" / "logmfcc" / f"{video.vid}.npy")
        T = min(rgb.shape[0], mel.shape[0] // 32)
        assert video.num_snippets == T == ds.lengths[video.vid]
        assert video.features["rgb"].shape == (T, 1024)
        assert np.array_equal(video.features["rgb"], rgb[:T])
        assert video.features["logmfcc"].shape == (T, 32, 60)
        t, r = T - 1, 5
        np.testing.assert_allclose(video.features["logmfcc"][t, r], (mel[32 * t + r] + 50) / 80, rtol=1e-6)
    raw = load_dataset(real_root, "train", points="none", normalize_logmel=False)[0]
    mel0 = np.load(real_root / "features" / "train" / "logmfcc" / f"{raw.vid}.npy")
    assert np.array_equal(raw.features["logmfcc"].reshape(-1, 60), mel0[: raw.num_snippets * 32])


def test_official_truncation_cuts_rgb_when_audio_is_shorter(real_root):
    # the official mel-frame count gives floor(N_mel / 32) < ceil(frames / 16) for most videos
    ds = load_dataset(real_root, "train", points="none")
    shorter = [v for v in ds.vids if ds.lengths[v] < np.load(
        real_root / "features" / "train" / "rgb" / f"{v}.npy", mmap_mode="r").shape[0]]
    assert shorter


def test_segments_fps_duration_and_gt_choice(real_root):
    src = tsl300_annotations()
    gt_all = json.loads((src / "videosenti_gt.json").read_text())["database"]
    durations = json.loads((src / "len_duration_dict.json").read_text())
    fps = json.loads((src / "fps_dict.json").read_text())
    train_gt = load_dataset(real_root, "train", points="none")
    assert all(v.segments == [] for v in train_gt)  # gt.json has no train annotations
    train_all = load_dataset(real_root, "train", points="none", gt="videosenti")
    test = load_dataset(real_root, "test")
    for video in list(train_all) + list(test):
        ref = sorted((float(a["segment"][0]), float(a["segment"][1]), a["label"])
                     for a in gt_all[video.vid]["annotations"])
        assert [(s.start, s.end, s.label) for s in video.segments] == ref
        assert video.fps == fps[video.vid] and video.duration == durations[video.vid]
        assert video.subset in ("train", "test") and video.missing == ()
    assert all(len(v.points) == 0 for v in test)  # TSL-300 has no test points
    gt = test.ground_truth()["database"]
    assert set(gt) == set(test.vids) and all(e["subset"] == "test" for e in gt.values())


def test_mmap_cache_and_in_memory_loading_agree(real_root):
    mapped = load_dataset(real_root, "test")
    plain = load_dataset(real_root, "test", mmap=False)
    cached = load_dataset(real_root, "test", cache=True)
    for a, b in zip(mapped, plain):
        for name in a.features:
            assert np.array_equal(a.features[name], b.features[name])
    assert cached[1] is cached[1]
    assert cached.get(cached.vids[2]).vid == cached.vids[2]
    assert type(mapped[0].features["rgb"]) is np.ndarray
    assert mapped[0].features["rgb"].flags.writeable  # copy-on-write map: torch.from_numpy is happy


def test_data_card_holds_the_current_statistics_and_checksums():
    """data_cards/tsl300.md must show what `python -m tsl300.data.stats` prints."""
    from pathlib import Path

    from tsl300.data.stats import checksums_markdown, compute, to_markdown

    card = (Path(__file__).resolve().parents[1] / "data_cards" / "tsl300.md").read_text()
    root = tsl300_annotations()
    assert to_markdown(compute(root)) in card
    assert checksums_markdown(root) in card
    stats = compute(root)
    assert stats["splits"]["train"]["segments"] == 1058 and stats["splits"]["test"]["segments"] == 584
    assert [stats["points"][f"point_anno_{k}.txt"]["rows"] for k in range(3)] == [1438, 1254, 840]
    assert abs(stats["splits"]["train"]["duration_min_total"] - 871.2) < 0.05
    assert 0.5 < stats["points"]["point_labels.csv"]["inside"] < 0.6

"""``tsl300 dataset build`` on small synthetic videos: splits, point frames, annotator files,
what is listed, and the errors (the real-clip run is tests/test_ownvideos_end_to_end.py)."""
from __future__ import annotations

import json

import pytest

from tsl300.data import load_dataset
from tsl300.errors import DataError
from tsl300.owndata.build import build_dataset


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from tsl300.io.synthetic import write_video

    folder = tmp_path_factory.mktemp("videos")
    for name in ("a", "b", "c"):
        write_video(folder / f"{name}.mp4", 1.0, fps=25, tones=[(0.2, 0.6, 300.0)])
    (folder / "readme.md").write_text("not a video")
    return folder


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.slow
def test_build_two_annotators_no_segments(videos, tmp_path):
    p0 = write(tmp_path / "alice.csv", "video,time,label\na,0.1,positive\nb,0.3,negative\nb,0.9,positive\n")
    p1 = write(tmp_path / "bob.csv", "video,time,label\na,0.2,positive\nb,0.35,negative\n")
    out = tmp_path / "data"
    report = build_dataset(videos, [p0, p1], out, extractors="visual_stats")
    assert report.train == ["a", "b"] and report.test == [] and report.unlabelled == ["c"]
    assert report.skipped_files == [f"{videos / 'readme.md'}: not a video file (suffix .md)"]
    # frame = floor(time x 25); visual_stats keeps the last partial snippet, so nothing moves
    assert report.moved_points == 0 and report.n_points == [3, 2]
    anno = out / "point_gaussian" / "train"
    assert (anno / "point_anno_0.txt").read_text().splitlines()[1:] == [
        "p,1,2,2,a,2", "n,0,7,7,b,7", "p,1,22,22,b,22"]
    assert (anno / "point_anno_1.txt").read_text().splitlines()[1:] == ["p,1,5,5,a,5", "n,0,8,8,b,8"]
    assert not (out / "split_test.txt").exists()
    assert json.loads((out / "videos.json").read_text()) == {v: str((videos / f"{v}.mp4").resolve())
                                                              for v in ("a", "b")}
    train = load_dataset(out, "train", points=0)  # what `tsl300 train` opens (alice's file)
    assert train.vids == ["a", "b"] and train.get("b").points.tolist() == [[0, 0], [1, 1]]
    assert "no test split" in str(report)


@pytest.mark.slow
def test_build_errors_name_the_row(videos, tmp_path):
    bad = write(tmp_path / "p.csv", "video,time,label\na,0.1,positive\na,3.0,negative\n")
    with pytest.raises(DataError, match=r"p.csv: row 3: time 3 s is outside video 'a' \(duration 1.000 s\)"):
        build_dataset(videos, [bad], tmp_path / "d")
    none = write(tmp_path / "q.csv", "video,time,label\n")
    with pytest.raises(DataError, match="no video has points in every point file"):
        build_dataset(videos, [none], tmp_path / "d")

"""The user's label files, the annotation store, the split rule and the folder scan (no browser)."""
from __future__ import annotations

import re

import pytest

from tsl300.data.user_labels import PointLabel, read_points, read_segments, write_points
from tsl300.errors import DataError
from tsl300.owndata.build import choose_splits
from tsl300.owndata.folder import scan_folder
from tsl300.owndata.label_store import LabelStore

DURATIONS = {"a": 10.0, "b": 5.0}


def write(tmp_path, text, name="points.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_points_read_with_optional_annotator_and_codes(tmp_path):
    path = write(tmp_path, "video,time,label,annotator\na,1.5,positive,ann\nb,0,n,ann\n\n")
    assert read_points(path, DURATIONS) == [PointLabel("a", 1.5, "positive", "ann"),
                                            PointLabel("b", 0.0, "negative", "ann")]


@pytest.mark.parametrize("body, message", [
    ("a,1,happy\n", "row 3: unknown label 'happy'"),
    ("a,1\n", "row 3: 2 fields, the header has 3"),
    ("a,soon,positive\n", "row 3: time 'soon' is not a number"),
    ("b,5.5,positive\n", "row 3: time 5.5 s is outside video 'b' (duration 5.000 s)"),
    ("c,1,positive\n", "row 3: unknown video 'c'"),
    ("a,-1,positive\n", "row 3: time '-1' must be a finite time >= 0 s"),
    ("../x,1,positive\n", "invalid video id"),
])
def test_bad_point_rows_are_errors_naming_the_row(tmp_path, body, message):
    path = write(tmp_path, "video,time,label\na,1,positive\n" + body)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        read_points(path, DURATIONS)
    assert str(path) in str(info.value)


def test_bad_header_and_bad_segment(tmp_path):
    with pytest.raises(DataError, match="row 1: header 'vid,t,label'"):
        read_points(write(tmp_path, "vid,t,label\na,1,positive\n"))
    seg = write(tmp_path, "video,start,end,label\na,3,2,positive\n", "seg.csv")
    with pytest.raises(DataError, match="row 2: end 2 s is not after start 3 s"):
        read_segments(seg, DURATIONS)


def test_write_points_is_sorted_ms_and_round_trips(tmp_path):
    points = [PointLabel("b", 1.23456, "negative"), PointLabel("a", 2.0, "positive")]
    path = write_points(tmp_path / "p.csv", points)
    assert path.read_text() == "video,time,label\na,2.000,positive\nb,1.235,negative\n"
    assert [p.time for p in read_points(path, DURATIONS)] == [2.0, 1.235]


def test_two_tabs_on_one_file_keep_each_others_points(tmp_path):
    path = tmp_path / "points.csv"
    tab1 = LabelStore(path, DURATIONS, annotator="x")
    tab2 = LabelStore(path, DURATIONS, annotator="x")  # as a second tab (or a second server)
    tab1.apply({"op": "add", "kind": "point", "video": "a", "time": 1.0, "label": "positive"})
    out = tab2.apply({"op": "add", "kind": "point", "video": "a", "time": 2.0, "label": "negative"})
    assert [(p["time"], p["label"]) for p in out["points"]] == [(1.0, "positive"), (2.0, "negative")]
    # tab2 deletes tab1's point; tab1 then deletes it too: nothing left to change, nothing lost
    assert tab2.apply({"op": "delete", "kind": "point", "video": "a", "time": 1.0, "label": "positive"})["changed"]
    again = tab1.apply({"op": "delete", "kind": "point", "video": "a", "time": 1.0, "label": "positive"})
    assert again["changed"] is False and len(again["points"]) == 1
    moved = tab1.apply({"op": "move", "kind": "point", "video": "a", "time": 2.0, "label": "negative", "to": 2.5})
    assert moved["points"] == [{"time": 2.5, "label": "negative", "annotator": "x"}]
    assert path.read_text() == "video,time,label,annotator\na,2.500,negative,x\n"


def test_store_refuses_bad_operations(tmp_path):
    store = LabelStore(tmp_path / "p.csv", DURATIONS)
    with pytest.raises(DataError, match="outside video 'b'"):
        store.apply({"op": "add", "kind": "point", "video": "b", "time": 6, "label": "positive"})
    with pytest.raises(DataError, match="unknown video"):
        store.apply({"op": "add", "kind": "point", "video": "zz", "time": 1, "label": "positive"})
    with pytest.raises(DataError, match="segment mode is off"):
        store.apply({"op": "add", "kind": "segment", "video": "a", "start": 1, "end": 2, "label": "positive"})
    assert not (tmp_path / "p.csv").exists()


def test_split_rule():
    points = {"v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"}
    # no segments: no test split
    assert choose_splits(points, set(), 0.2, 0) == (sorted(points), [])
    # a video with segments only is always test; 0.2 of 9 labelled videos rounds to 2 test videos
    train, test = choose_splits(points, {"s1", "v3", "v5"}, 0.2, seed=0)
    assert "s1" in test and len(test) == 2 and set(test) - {"s1"} <= {"v3", "v5"}
    assert set(train) == points - set(test)
    assert choose_splits(points, {"s1", "v3", "v5"}, 0.2, seed=0) == (train, test)  # seeded
    with pytest.raises(DataError, match="test-fraction"):
        choose_splits(points, set(), 1.0, 0)


def test_folder_scan_lists_non_videos_and_refuses_duplicate_ids(tmp_path):
    from tsl300.io.synthetic import write_video

    write_video(tmp_path / "one.mp4", 1.0)
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "fake.mp4").write_text("not a video either")
    folder = scan_folder(tmp_path)
    assert list(folder.videos) == ["one"] and folder.videos["one"].duration == pytest.approx(1.0, abs=0.05)
    reasons = {p.name: why for p, why in folder.skipped}
    assert reasons["notes.txt"] == "not a video file (suffix .txt)"
    assert "not a readable media file" in reasons["fake.mp4"]
    (tmp_path / "sub").mkdir()
    write_video(tmp_path / "sub" / "one.mp4", 1.0)
    with pytest.raises(DataError, match="two videos have the id 'one'"):
        scan_folder(tmp_path)


def test_png_lanes_use_full_height_bars_with_score_labels_and_relative_opacity():
    import numpy as np

    from tsl300.plotting import segment_opacity, timeline_figure
    from tsl300.types import LocalizationResult, LocalizedSegment, ResultMetadata

    segments = [LocalizedSegment(1, 3, "positive", 1.4), LocalizedSegment(6, 8, "positive", 0.2)]
    result = LocalizationResult("v.mp4", segments, np.zeros((10, 2)), ResultMetadata(duration=10.0, fps=16.0))
    _, lanes = timeline_figure(result).axes
    bars = [c for c in lanes.collections if len(c.get_paths())]
    extents = [(p.vertices[:, 1].min(), p.vertices[:, 1].max()) for c in bars for p in c.get_paths()]
    assert len(bars) == 2 and extents[0] == extents[1]  # same height whatever the score
    assert [c.get_alpha() for c in bars] == [pytest.approx(1.0), pytest.approx(segment_opacity(0.2, 1.4))]
    assert [t.get_text() for t in lanes.texts] == ["1.40", "0.20"]
    assert all("height" not in t.get_text() for t in lanes.get_yticklabels())


def test_points_become_frames_and_the_last_incomplete_snippet_moves_back():
    from tsl300.owndata.build import BuildReport, _point_rows

    points = [PointLabel("a", 0.9, "positive"), PointLabel("a", 0.3, "negative"), PointLabel("b", 0.1, "positive")]
    report = BuildReport(root=None)
    # video a: 25 fps, 1 complete snippet (frames 0-15): 0.9 s = frame 22 moves to 15; b is not in train
    rows = _point_rows(points, {"a"}, {"a": 25.0, "b": 25.0}, {"a": 1}, report)
    assert rows == [("a", 0, 7, 7), ("a", 1, 15, 15)] and report.moved_points == 1

"""LocalizationResult: sorting, exports and their round trips, the timeline PNG."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tsl300.data.types import Segment
from tsl300.errors import DataError
from tsl300.types import (LocalizationResult, LocalizedSegment, ResultMetadata, read_csv, read_srt,
                          results_to_csv, results_to_json)


def make_result(video="clips/talk one.mp4", n=40, fps=25.0, seed=0) -> LocalizationResult:
    rng = np.random.default_rng(seed)
    segments = [LocalizedSegment(12.5, 14.0, "negative", 0.41),
                LocalizedSegment(1.25, 3.5, "positive", 0.875),
                LocalizedSegment(1.25, 2.0, "negative", 0.3333333333333333),
                LocalizedSegment(3661.2, 3662.0, "p", 0.5)]
    meta = ResultMetadata(duration=n * 16 / fps - 0.1, fps=fps, model_name="default",
                          model_sha256="ab" * 32, extractors=[{"name": "audio_prosody", "dim": 8}],
                          package_version="0.1.0", audio_missing=True, missing_modalities=["audio"])
    return LocalizationResult(video, segments, rng.random((n, 2)), meta)


def test_segments_sorted_and_labels_normalised():
    res = make_result()
    assert [s.start for s in res] == [1.25, 1.25, 12.5, 3661.2]
    assert [s.label for s in res] == ["negative", "positive", "negative", "positive"]
    assert res.segments[0].code == "n" and res.segments[-1].code == "p"
    with pytest.raises(ValueError, match="unknown sentiment"):
        LocalizedSegment(0, 1, "happy", 0.5)
    with pytest.raises(ValueError, match="start <= end"):
        LocalizedSegment(2, 1, "positive", 0.5)


def test_snippet_times_follow_the_time_grid():
    res = make_result(n=3, fps=25.0)
    np.testing.assert_allclose(res.snippet_starts, [0.0, 0.64, 1.28])
    # the last snippet is cut at the video's duration (3 * 0.64 - 0.1)
    np.testing.assert_allclose(res.snippet_ends, [0.64, 1.28, 1.82])


def test_json_is_activitynet_and_round_trips(tmp_path):
    res = make_result()
    path = tmp_path / "out" / "r.json"
    text = res.to_json(path)
    data = json.loads(path.read_text())
    assert text == path.read_text()
    assert data["version"] == "VERSION 1.3"
    entries = data["results"]["talk one"]
    assert entries[1] == {"label": "p", "sentiment": "positive", "score": 0.875, "segment": [1.25, 3.5]}
    back = LocalizationResult.from_json(path)
    assert back.segments == res.segments
    np.testing.assert_array_equal(back.scores, res.scores)
    assert back.metadata == res.metadata
    assert back.video == res.video
    assert LocalizationResult.from_json(text).segments == res.segments


def test_json_of_several_results_is_one_activitynet_file():
    a, b = make_result("a.mp4"), make_result("dir/b.mkv", seed=1)
    data = json.loads(results_to_json([a, b]))
    assert sorted(data["results"]) == ["a", "b"]
    assert [e["segment"] for e in data["results"]["b"]] == [[s.start, s.end] for s in b]
    with pytest.raises(ValueError, match="share the video id"):
        results_to_json([a, make_result("other/a.mkv")])


def test_csv_and_dataframe_round_trip(tmp_path):
    res = make_result()
    path = tmp_path / "r.csv"
    res.to_csv(path)
    assert read_csv(path) == {"talk one": res.segments}
    frame = res.to_dataframe()
    assert list(frame.columns) == ["video", "start", "end", "label", "score"]
    pd.testing.assert_frame_equal(pd.read_csv(path, dtype={"video": str}), frame)
    snippets = res.to_dataframe("snippets")
    assert snippets.shape == (40, 4)
    np.testing.assert_allclose(snippets[["negative", "positive"]].to_numpy(), res.scores)
    text = results_to_csv([res, make_result("b.mp4")])
    assert text.count("\n") == 1 + 2 * len(res)


def test_srt_round_trips_at_millisecond_precision(tmp_path):
    res = make_result()
    path = tmp_path / "r.srt"
    text = res.to_srt(path)
    assert "01:01:01,200 --> 01:01:02,000\npositive (0.500)" in text
    assert text.startswith("1\n00:00:01,250 --> 00:00:02,000\nnegative (0.333)\n")
    back = read_srt(path)
    assert [s.label for s in back] == [s.label for s in res]
    np.testing.assert_allclose([s.start for s in back], [s.start for s in res], atol=5e-4)
    np.testing.assert_allclose([s.end for s in back], [s.end for s in res], atol=5e-4)
    np.testing.assert_allclose([s.score for s in back], [s.score for s in res], atol=5e-4)


def test_bad_result_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        LocalizationResult.from_json(bad)
    with pytest.raises(DataError, match="not a tsl300 localization result"):
        LocalizationResult.from_json({"results": {"a": []}})
    with pytest.raises(DataError, match="cannot read"):
        LocalizationResult.from_json(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="expected CSV columns"):
        read_csv(wrong)
    notsrt = tmp_path / "x.srt"
    notsrt.write_text("hello\n")
    with pytest.raises(DataError, match="no subtitle cue"):
        read_srt(notsrt)


def test_empty_result_exports():
    meta = ResultMetadata(duration=0.5, fps=30.0)
    res = LocalizationResult("x.mp4", [], np.zeros((1, 2)), meta)
    assert res.to_srt() == ""
    assert LocalizationResult.from_json(res.to_json()).segments == []
    assert res.to_dataframe().empty


def test_save_plot_writes_a_png_with_ground_truth(tmp_path):
    res = make_result()
    gt = [Segment(1.0, 3.0, "p"), Segment(12.0, 14.5, "n")]
    path = res.save_plot(tmp_path / "plots" / "r.png", ground_truth=gt)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    image = imread(path)
    assert image.shape[1] == 1200 and image.shape[0] > 300
    # the plot holds coloured marks (curves, bars), not a blank canvas
    rgb = image[..., :3]
    assert (np.abs(rgb[..., 0] - rgb[..., 1]) > 0.2).mean() > 0.003


@pytest.mark.parametrize("text", ['{"results": [1], "tsl300": {"metadata": {}}}',
                                  '{"results": {}, "tsl300": {}}'])
def test_from_json_of_a_wrong_shape_is_a_data_error(text):
    with pytest.raises(DataError, match="not a tsl300 localization result"):
        LocalizationResult.from_json(text)

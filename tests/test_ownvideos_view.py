"""``tsl300 view`` and ``tsl300 localize --view`` without a browser: the page's embedded data
and the errors."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tsl300.cli import main
from tsl300.types import LocalizationResult, LocalizedSegment, ResultMetadata


def page_data(page):
    text = page.read_text()
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1))


@pytest.fixture()
def result_json(tmp_path):
    from tsl300.io.synthetic import write_video

    (tmp_path / "videos").mkdir()
    video = write_video(tmp_path / "videos" / "my talk.mp4", 1.0)
    result = LocalizationResult(str(video), [LocalizedSegment(0.2, 0.6, "negative", 1.25)],
                                np.array([[0.1, 0.9], [0.8, 0.2]]), ResultMetadata(duration=1.0, fps=25.0))
    result.to_json(tmp_path / "out" / "r.json")
    return tmp_path / "out" / "r.json"


def test_view_embeds_the_result_and_a_relative_video_path(result_json, tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"my talk": {"subset": "test",
                                                       "annotations": [{"segment": ["0.1", "0.5"], "label": "n"}]}}}))
    assert main(["view", str(result_json), "--gt", str(gt)]) == 0
    data = page_data(result_json.with_suffix(".html"))
    assert data["src"] == "../videos/my%20talk.mp4" and data["duration"] == 1.0
    assert data["segments"] == [{"start": 0.2, "end": 0.6, "label": "negative", "score": 1.25}]
    assert data["ground_truth"] == [{"start": 0.1, "end": 0.5, "label": "negative"}]
    assert data["scores"] == {"negative": pytest.approx([0.1, 0.8]), "positive": pytest.approx([0.9, 0.2])}
    assert data["snippet_starts"] == pytest.approx([0.0, 0.64])


def test_view_follows_the_output_folder_convention(result_json, tmp_path, capsys):
    """-o DIR puts the page there, named after the result; --output FILE names it; the old
    ``-o page.html`` still works with a note."""
    assert main(["view", str(result_json), "-o", str(tmp_path / "pages")]) == 0
    assert page_data(tmp_path / "pages" / "r.html")["duration"] == 1.0
    assert main(["view", str(result_json), "--output", str(tmp_path / "exact.html")]) == 0
    assert page_data(tmp_path / "exact.html")["duration"] == 1.0
    capsys.readouterr()
    assert main(["view", str(result_json), "-o", str(tmp_path / "old.html")]) == 0
    assert page_data(tmp_path / "old.html")["duration"] == 1.0
    assert "-o PAGE.html is deprecated" in capsys.readouterr().err


def test_view_errors_are_clear(result_json, tmp_path, capsys):
    gt = tmp_path / "gt.json"
    gt.write_text('{"database": {"other": {"subset": "test", "annotations": []}}}')
    assert main(["view", str(result_json), "--gt", str(gt)]) == 1
    assert "no ground truth for video 'my talk'" in capsys.readouterr().err
    assert main(["view", str(result_json), "--video", str(tmp_path / "nope.mp4")]) == 1
    assert "nope.mp4: video not found (give its path with --video)" in capsys.readouterr().err


@pytest.mark.slow
def test_localize_view_writes_a_page_per_video(tmp_path, monkeypatch):
    from tsl300.io.synthetic import write_video

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    video = write_video(tmp_path / "clip.mp4", 2.0, tones=[(0.5, 1.5, 220.0)])
    out = tmp_path / "out"
    assert main(["localize", str(video), "-o", str(out), "--view", "--quiet"]) == 0
    result = LocalizationResult.from_json(out / "clip.json")
    data = page_data(out / "clip.html")
    assert data["src"] == "../clip.mp4" and len(data["segments"]) == len(result)
    assert data["scores"]["positive"] == pytest.approx(result.scores[:, 1].tolist())

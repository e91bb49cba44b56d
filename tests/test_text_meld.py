"""MELD dialogue streams (tsl300.data.meld) and the VADER rule of benchmarks/bench_text_meld.py."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsl300.data.meld import LEAD_S, MELD_FPS, build_meld_dataset, dialogues, parse_time, read_table
from tsl300.data.types import Video
from tsl300.errors import DataError

REPO = Path(__file__).resolve().parents[1]
MELD = REPO.parent / "shared" / "datasets" / "meld"
COLUMNS = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
           "Season", "Episode", "StartTime", "EndTime"]


def _table(path: Path, rows) -> Path:
    pd.DataFrame([(i + 1, text, "A", "x", sent, dia, utt, 1, 1, start, end)
                  for i, (dia, utt, text, sent, start, end) in enumerate(rows)], columns=COLUMNS).to_csv(path, index=False)
    return path


ROWS = [(0, 0, "Hello there.", "neutral", "00:01:00,000", "00:01:02,000"),
        (0, 1, "I love you so much!", "positive", "00:01:03,000", "00:01:05,500"),
        (0, 2, "This is horrible.", "negative", "0:01:05,000", "00:01:07,000"),   # one-digit hour, overlaps
        (0, 3, "backwards", "negative", "00:01:09,000", "00:01:08,000"),           # end before start: dropped
        (1, 0, "Great, wonderful day!", "positive", "00:10:00,500", "00:10:02,000")]


def test_parse_time():
    assert parse_time("00:20:57,256") == pytest.approx(1257.256)
    assert parse_time("1:00:00,5") == pytest.approx(3600.5)
    with pytest.raises(DataError, match="not a MELD time"):
        parse_time("00:20:57")


def test_dialogues_lay_out_segments_and_cues(tmp_path):
    ds = dialogues(read_table(_table(tmp_path / "t.csv", ROWS)), "test")
    assert [d.vid for d in ds] == ["meld_test_dia0", "meld_test_dia1"]
    d = ds[0]
    assert d.dropped == 1
    assert [(c.start, c.end, c.text) for c in d.cues] == [
        (LEAD_S, LEAD_S + 2.0, "Hello there."), (LEAD_S + 3.0, LEAD_S + 5.5, "I love you so much!"),
        (LEAD_S + 5.0, LEAD_S + 7.0, "This is horrible.")]
    assert [(s.start, s.end, s.label) for s in d.segments] == [(LEAD_S + 3.0, LEAD_S + 5.5, "p"),
                                                             (LEAD_S + 5.0, LEAD_S + 7.0, "n")]
    assert d.duration == pytest.approx(LEAD_S + 7.0 + LEAD_S)
    assert ds[1].duration == pytest.approx(LEAD_S + 1.5 + LEAD_S)


def test_build_dataset_loads_with_points_inside_segments(tmp_path):
    from tsl300.data import load_dataset

    meld = tmp_path / "meld"
    meld.mkdir()
    for name in ("train", "dev", "test"):
        _table(meld / f"{name}_sent_emo.csv", ROWS)
    root = build_meld_dataset(meld, tmp_path / "data", seed=3)
    train = list(load_dataset(root, "train", modalities=["text"], points="random"))
    test = list(load_dataset(root, "test", modalities=["text"], points="none"))
    assert [v.vid for v in test] == ["meld_test_dia0", "meld_test_dia1"]
    v = train[0]
    assert v.fps == pytest.approx(MELD_FPS) and v.features["text"].shape[1] == 1 + 4 + 256
    assert len(v.points) == 2
    for (snippet, cls), frame in zip(v.points, v.point_frames):
        seg = [s for s in v.segments if "np"[cls] == s.label][0] if v.segments else None
        if seg is not None:
            assert seg.start * MELD_FPS - 1 <= frame <= seg.end * MELD_FPS
        assert snippet == frame // 16
    assert [(s.label) for s in test[0].segments] == ["p", "n"]
    # the text of the positive utterance lifts VADER's compound in its snippets
    x = test[0].features["text"]
    inside = slice(int(np.ceil((LEAD_S + 3.0) * MELD_FPS / 16)), int((LEAD_S + 5.0) * MELD_FPS // 16))
    assert (x[inside, 4] > 0.5).all()


@pytest.mark.skipif(not MELD.is_dir(), reason="../shared/datasets/meld not present")
def test_real_meld_dev_counts():
    ds = dialogues(read_table(MELD / "dev_sent_emo.csv"), "dev")
    assert len(ds) == 114
    assert sum(len(d.cues) for d in ds) == 1109
    assert sum(len(d.segments) for d in ds) == 406 + 233
    assert {s.label for d in ds for s in d.segments} == {"n", "p"}


def _bench():
    spec = importlib.util.spec_from_file_location("bench_text_meld", REPO / "benchmarks" / "bench_text_meld.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vader_rule_runs_and_scores():
    bench = _bench()
    x = np.zeros((6, 9), np.float32)
    x[:, 0] = [1, 1, 1, 0, 1, 1]
    x[:, 4] = [0.8, 0.4, -0.6, 0.9, -0.2, -0.9]       # snippet 3 has no words: ignored
    video = Video("v", 25.0, {"text": x})
    segs = bench.vader_rule([video], 0.3)["v"]
    got = sorted((round(s.start, 3), round(s.end, 3), s.label, round(s.score, 3)) for s in segs)
    assert got == [(0.0, 1.28, "p", 0.6), (1.28, 1.92, "n", 0.6), (3.2, 3.84, "n", 0.9)]
    assert bench.vader_rule([video], 0.95)["v"] == []

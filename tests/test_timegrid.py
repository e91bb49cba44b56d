import doctest

import numpy as np
import pytest

from tsl300 import timegrid


def test_doctest_worked_example():
    result = doctest.testmod(timegrid)
    assert result.failed == 0 and result.attempted >= 5


def test_point_frame_to_snippet_matches_official_int_division():
    frames = np.array([0, 15, 16, 31, 32, 1000])
    assert timegrid.frame_to_snippet(frames).tolist() == [0, 0, 1, 1, 2, 62]
    assert timegrid.frame_to_snippet(1000) == int(1000 / 16)


@pytest.mark.parametrize("fps", [25.0, 29.97, 23.976, 30.0])
def test_roundtrip_seconds_snippet(fps):
    idx = np.arange(0, 500)
    starts = timegrid.snippet_start(idx, fps)
    assert np.array_equal(timegrid.seconds_to_snippet(starts + 1e-6, fps), idx)
    assert np.allclose(timegrid.snippet_end(idx, fps) - starts, 16 / fps)


def test_upsampled_times_match_official_formula():
    fps, scale = 29.97, 24
    i_s, i_e = 100, 250
    assert timegrid.upsampled_start(i_s, fps, scale) == i_s * 16 / (24 * fps)
    assert timegrid.upsampled_end(i_e, fps, scale) == (i_e + 1) * 16 / (24 * fps)


def test_num_snippets_and_bad_fps():
    assert timegrid.num_snippets(0) == 0
    assert timegrid.num_snippets(16) == 1
    assert timegrid.num_snippets(17) == 2
    assert timegrid.num_snippets(17, pad_last=False) == 1
    with pytest.raises(ValueError, match="fps"):
        timegrid.snippet_start(1, 0.0)
    with pytest.raises(ValueError, match="fps"):
        timegrid.snippet_start(1, float("nan"))


def test_segment_to_snippets():
    assert timegrid.segment_to_snippets(3.84, 4.48, 25.0) == (6, 6)
    assert timegrid.segment_to_snippets(0.0, 100.0, 25.0, n_snippets=10) == (0, 9)

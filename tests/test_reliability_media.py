"""Media layouts that broke a run (issue 18, item 9): MKV whose audio outlasts its picture, decoy
streams before the real ones, timestamp jumps. Files are made by ``tests/media_factory.py``."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from media_factory import av_file, decoys_first, timestamp_jump

from tsl300.extractors import extract_video
from tsl300.io import probe
from tsl300.io.decode import MAX_TIMESTAMP_GAP_S


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_audio_outlasting_the_picture_is_not_truncation(suffix, tmp_path):
    path = av_file(tmp_path / f"long_audio{suffix}", video_s=2.0, audio_s=4.0)
    result = extract_video(path, ["default"])
    assert result.duration == pytest.approx(2.0) and result.n_frames == 50 and not result.missing


def test_mkv_and_mp4_with_the_same_streams_give_the_same_features(tmp_path):
    mkv = extract_video(av_file(tmp_path / "a.mkv", 2.0, 4.0), ["default"])
    mp4 = extract_video(av_file(tmp_path / "a.mp4", 2.0, 4.0), ["default"])
    assert mkv.n_snippets == mp4.n_snippets
    np.testing.assert_allclose(mkv.features["visual_stats"], mp4.features["visual_stats"], atol=1e-3)


def test_a_cut_mkv_is_still_truncated(tmp_path):
    from tsl300.errors import MediaError

    path = av_file(tmp_path / "whole.mkv", 4.0, 4.0, size=(320, 240))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(MediaError, match="cut.mkv: truncated or corrupt"):
        extract_video(cut, ["default"])


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_the_real_streams_are_chosen_over_decoys(suffix, tmp_path, tiny_flagship_checkpoint):
    import tsl300

    path = decoys_first(tmp_path / f"decoys{suffix}")
    info = probe(path)
    assert (info.video_index, info.audio_index) == (2, 3)
    assert (info.width, info.height, info.audio_channels) == (160, 120, 2)
    features = extract_video(path, ["default"]).features
    assert features["visual_stats"][:, 0].min() > 0.05  # r_mean of the coloured picture, not black
    assert not (features["audio_prosody"] == 0).all()  # the tone, not the silent decoy
    result = tsl300.localize(path, model=tsl300.load_model(tiny_flagship_checkpoint, device="cpu"))
    assert result.metadata.streams == {"video": 2, "audio": 3} and result.metadata.clock == "video"


@pytest.mark.parametrize("jump_s", [600.0, 36000.0])
def test_a_timestamp_jump_is_bounded_by_what_the_file_holds(jump_s, tmp_path):
    path = timestamp_jump(tmp_path / "jump.mp4", jump_s)  # 50 pictures, 2 s of content
    assert path.stat().st_size < 20_000
    began = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = extract_video(path, ["visual_stats"])
    assert time.perf_counter() - began < 10
    assert result.n_frames == 50 and result.duration == pytest.approx(2.0)
    assert any(f"jump forward by {jump_s:.1f} s" in str(w.message) for w in caught)


def test_short_gaps_are_still_filled(tmp_path):
    path = timestamp_jump(tmp_path / "gap.mp4", MAX_TIMESTAMP_GAP_S / 4)  # a frozen picture, kept
    result = extract_video(path, ["visual_stats"])
    assert result.n_frames == 50 + int(round(MAX_TIMESTAMP_GAP_S / 4 * 25))

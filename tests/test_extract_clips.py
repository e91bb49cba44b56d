"""Every real clip: feature lengths follow duration x fps / 16 and agree across modalities;
silent tracks give finite features plus the missing marker; non-video and broken files fail clearly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import SHARED, shared_path
from tsl300.errors import MediaError
from tsl300.extractors import extract_video
from tsl300.io import probe

CLIPS_DIR = SHARED / "media" / "clips"
VIDEO_CLIPS = sorted(p.name for p in CLIPS_DIR.glob("*") if p.suffix != ".flac") if CLIPS_DIR.exists() else []
SILENT = {"WolfgangLanger_Pexels.mp4", "cockatoo_silent_track.mp4"}
LONG = {"wannaworktogether.mp4", "WolfgangLanger_Pexels.mp4", "movie-hello.mp4", "cockatoo_silent_track.mp4"}  # > 8 s
BAD_INPUTS = ["zero_bytes.mp4", "text_file.mp4", "truncated_262_bytes.mp4", "movie-hello_cut_at_100kB.mp4"]


@pytest.mark.parametrize("clip", [pytest.param(c, marks=pytest.mark.slow) if c in LONG else c
                                  for c in VIDEO_CLIPS])
def test_clip_lengths_consistent_across_modalities(clip):
    path = shared_path("media", "clips", clip)
    info = probe(path)
    result = extract_video(path, ["default"], zero_missing=False)
    expected_frames = info.duration * info.fps
    assert abs(result.n_frames - expected_frames) <= max(2, 0.01 * expected_frames), clip
    assert result.n_snippets == math.ceil(result.n_frames / 16)
    assert abs(result.n_snippets - expected_frames / 16) <= 1
    for modality, array in result.features.items():
        assert array.shape[0] == result.n_snippets, modality
        assert np.isfinite(array).all(), modality
    assert (clip in SILENT) == ("audio_prosody" in result.missing)
    if clip not in SILENT:
        energy = result.features["audio_prosody"][:, 0]
        assert energy.max() > -9.0                 # some snippet above -90 dBFS: real audio was read


def test_silent_track_gives_marker_and_zeros():
    result = extract_video(shared_path("media", "clips", "cockatoo_silent_track.mp4"), ["audio_prosody"])
    assert result.missing == ("audio_prosody",) and result.n_snippets == 18
    assert result.features["audio_prosody"].shape == (18, 46) and not result.features["audio_prosody"].any()


def test_audio_only_file_runs_on_the_audio_clock():
    result = extract_video(shared_path("media", "clips", "jfk.flac"), ["default"])
    assert result.info.clock == "audio" and result.missing == ("visual_stats",)
    assert not result.features["visual_stats"].any() and result.features["audio_prosody"].any()


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_fail_clearly(name):
    path = shared_path("media", "bad_inputs", name)
    with pytest.raises(MediaError, match=str(path).replace(".", r"\.")):
        extract_video(path, ["default"])

"""Known content lights up the expected snippets: a colour change and a tone at known times."""
from __future__ import annotations

import numpy as np
import pytest

from tsl300 import timegrid
from tsl300.extractors import extract_video, get_extractor
from tsl300.io.synthetic import write_video

FPS = 25                      # one snippet = 0.64 s
CHANGE_AT = 4.0               # red -> blue at frame 100, inside snippet 6
TONE = (2.0, 3.0, 440.0)      # snippets 3 (1.92-2.56 s) and 4 (2.56-3.20 s)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    path = write_video(tmp_path_factory.mktemp("syn") / "syn.mp4", 8.0, fps=FPS,
                       colour=lambda t: (220, 30, 30) if t < CHANGE_AT else (30, 30, 220), tones=[TONE])
    return extract_video(path, ["default", "logmel_tsl300"])


def _col(result, modality, name):
    return result.features[modality][:, result.specs[modality].columns.index(name)]


def test_lengths_follow_the_grid(result):
    assert result.n_frames == 200 and result.n_snippets == 13 == timegrid.num_snippets(200)
    assert {k: v.shape[0] for k, v in result.features.items()} == {"visual_stats": 13, "audio_prosody": 13,
                                                                  "logmfcc": 13}
    assert result.features["logmfcc"].shape == (13, 32, 60) and result.stored["logmfcc"].shape[0] >= 13 * 32
    assert result.missing == ()
    for array in result.features.values():
        assert np.isfinite(array).all()


def test_colour_change_lands_in_its_snippet(result):
    change = timegrid.seconds_to_snippet(CHANGE_AT, FPS)
    red, blue = _col(result, "visual_stats", "r_mean_mean"), _col(result, "visual_stats", "b_mean_mean")
    assert (red[:change] > 0.8).all() and (blue[change + 1:] > 0.8).all()
    assert 0.2 < blue[change] < 0.8                                   # mixed snippet
    cut = _col(result, "visual_stats", "hist_change_mean")
    motion = _col(result, "visual_stats", "motion_mean_mean")
    assert np.argmax(cut) == change and np.argmax(motion) == change
    assert np.delete(motion, change).max() < 0.01 * motion[change]


def test_tone_lights_up_its_snippets(result):
    tone = list(range(timegrid.seconds_to_snippet(TONE[0], FPS), timegrid.seconds_to_snippet(TONE[1], FPS) + 1))
    assert tone == [3, 4]
    energy = _col(result, "audio_prosody", "log_energy_mean")
    voiced = _col(result, "audio_prosody", "voiced_fraction")
    pitch = _col(result, "audio_prosody", "pitch_mean")
    quiet = np.setdiff1d(np.arange(13), tone)
    assert energy[tone].min() > energy[quiet].max() + 3            # > 30 dB louder
    assert (voiced[tone] > 0.5).all() and (voiced[quiet] == 0).all()
    np.testing.assert_allclose(pitch[tone], np.log2(440 / 100), atol=0.02)   # octaves re 100 Hz
    mel = result.features["logmfcc"].mean(axis=(1, 2))
    assert mel[tone].min() > mel[quiet].max() + 3


def test_features_do_not_depend_on_decode_batching(tmp_path):
    path = write_video(tmp_path / "v.mp4", 3.0, fps=FPS, colour=lambda t: (int(40 + 60 * t), 90, 30),
                       tones=[(0.5, 2.2, 220.0)], noise=0.01)
    a = extract_video(path, ["default"], batch_frames=32)
    b = extract_video(path, ["default"], batch_frames=5)
    for modality in a.features:
        np.testing.assert_allclose(a.features[modality], b.features[modality], rtol=1e-5, atol=1e-6)


def test_video_without_audio_gives_zeros_and_missing(tmp_path):
    path = write_video(tmp_path / "mute.mp4", 2.0, fps=FPS, audio=False)
    result = extract_video(path, ["default", "logmel_tsl300"])
    assert set(result.missing) == {"audio_prosody", "logmfcc"}
    assert result.features["audio_prosody"].shape == (4, 46) and not result.features["audio_prosody"].any()
    assert result.stored["logmfcc"].shape == (128, 60)


def test_logmel_sample_rate_formula():
    from extractors.logmel_tsl300 import tsl300_sample_rate
    assert tsl300_sample_rate(25.0) == 51228 and tsl300_sample_rate(30.0) == 61474
    assert get_extractor("logmel_tsl300").spec().params["mp3_round_trip"] is True

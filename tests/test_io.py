"""Decoding: probing, the constant-fps grid, audio on the video clock, and clear MediaErrors."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from conftest import shared_path
from tsl300.errors import MediaError
from tsl300.io import AudioRequest, FrameBatch, MediaStream, VideoRequest, probe
from tsl300.io.synthetic import write_video

BAD_INPUTS = ["zero_bytes.mp4", "text_file.mp4", "truncated_262_bytes.mp4", "movie-hello_cut_at_100kB.mp4"]


def _drain(stream):
    frames, audio = [], []
    for event in stream:
        if isinstance(event, FrameBatch):
            assert event.start == sum(len(f) for f in frames)      # contiguous grid batches
            frames.append(next(iter(event.frames.values())))
        else:
            assert event.start == sum(a.shape[1] for a in audio)
            audio.append(event.samples)
    return (np.concatenate(frames) if frames else None,
            np.concatenate(audio, axis=1) if audio else None)


@pytest.fixture(scope="module")
def colour_video(tmp_path_factory):
    """25 fps, 4 s: red before 2.0 s, blue after; a 440 Hz tone in [1.0, 1.5) s."""
    path = tmp_path_factory.mktemp("io") / "colour.mp4"
    return write_video(path, 4.0, fps=25, colour=lambda t: (220, 20, 20) if t < 2.0 else (20, 20, 220),
                       tones=[(1.0, 1.5, 440.0)])


def test_probe_reads_header_facts(colour_video):
    info = probe(colour_video)
    assert info.fps == 25.0 and info.has_audio and info.audio_rate == 16000
    assert (info.width, info.height) == (64, 48)
    assert info.n_frames == 100 and abs(info.duration - 4.0) < 0.05


def test_frames_resized_on_decode_and_on_grid(colour_video):
    stream = MediaStream(colour_video, video=(VideoRequest(width=32, height=24),), batch_frames=7)
    frames, _ = _drain(stream)
    assert frames.shape == (100, 24, 32, 3) and stream.stats.n_frames == 100
    red = frames[..., 0].mean(axis=(1, 2)) > frames[..., 2].mean(axis=(1, 2))
    assert red[:50].all() and not red[50:].any()             # the change lands at frame 50 = 2.0 s


def test_short_side_and_height_keep_aspect():
    assert VideoRequest(short_side=128).output_size(640, 360) == (228, 128)
    assert VideoRequest(height=240).output_size(1280, 720) == (427, 240)
    assert VideoRequest(short_side=10).output_size(360, 640) == (10, 18)


def test_variable_frame_rate_maps_frames_by_timestamp(tmp_path):
    times = [0.0, 0.04, 0.08, 0.20, 0.24, 0.60, 0.64]          # gaps of 2 and 8 frames at 25 fps
    shades = {t: int(t * 300) for t in times}
    path = write_video(tmp_path / "vfr.mp4", 0.68, fps=25, frame_times=times,
                       colour=lambda t: (shades[round(t, 2)], 0, 0), audio=False)
    stream = MediaStream(path, video=(VideoRequest(),), fps=25)
    frames, _ = _drain(stream)
    assert stream.stats.n_frames == 17                        # grid indices 0..16
    red = frames[..., 0].mean(axis=(1, 2))
    expected = [0, 12, 24, 24, 24, 60, 72, 72, 72, 72, 72, 72, 72, 72, 72, 180, 192]
    np.testing.assert_allclose(red, expected, atol=6)         # gaps repeat the previous picture


def test_target_fps_below_native_drops_frames(colour_video):
    stream = MediaStream(colour_video, video=(VideoRequest(width=8, height=8),), fps=12.5)
    frames, _ = _drain(stream)
    assert len(frames) == 51              # nearest slot: the last frame (3.96 s) goes to slot 50 (4.0 s)
    red = frames[..., 0].mean(axis=(1, 2)) > frames[..., 2].mean(axis=(1, 2))
    assert red[:25].all() and not red[25:].any()


def test_audio_mono_resampled_and_aligned(colour_video):
    stream = MediaStream(colour_video, audio=(AudioRequest(sample_rate=8000),), audio_chunk_seconds=0.3)
    _, audio = _drain(stream)
    assert audio.shape[0] == 1 and audio.dtype == np.float32
    assert abs(audio.shape[1] - 4.0 * 8000) < 8000 * 0.05
    envelope = np.abs(audio[0, :32000]).reshape(-1, 400).max(axis=1)   # 50 ms blocks
    loud = np.flatnonzero(envelope > 0.2)
    assert abs(loud[0] * 0.05 - 1.0) <= 0.1 and abs((loud[-1] + 1) * 0.05 - 1.5) <= 0.1


def test_multichannel_audio_is_downmixed():
    path = shared_path("media", "clips", "mkv.mkv")          # 6 channels, 48 kHz
    stream = MediaStream(path, audio=(AudioRequest(sample_rate=16000),))
    _, audio = _drain(stream)
    assert probe(path).audio_channels == 6 and audio.shape[0] == 1 and np.abs(audio).max() > 0.01


def test_late_audio_start_is_padded_to_the_video_clock():
    path = shared_path("media", "clips", "movie-hello.mp4")  # video starts 0.033 s, audio 0.042 s
    aligned = MediaStream(path, audio=(AudioRequest(sample_rate=48000),))
    raw = MediaStream(path, audio=(AudioRequest(sample_rate=48000, aligned=False),))
    _, a = _drain(aligned)
    _, b = _drain(raw)
    offset = round((2016 / 48000 - 507 / 15360) * 48000)
    assert a.shape[1] - b.shape[1] == offset
    np.testing.assert_array_equal(a[:, :offset], 0)
    np.testing.assert_allclose(a[:, offset:offset + 48000], b[:, :48000], atol=1e-6)


def test_golden_frame_counts_match_ffprobe():
    meta = json.loads((shared_path("golden", "logmel_tsl300") / "meta.json").read_text())["clips"]
    for clip, facts in meta.items():
        path = shared_path("media", "clips", clip)
        stream = MediaStream(path)
        _drain(stream)
        assert abs(stream.fps - facts["fps"]) < 1e-9, clip
        assert stream.stats.n_frames == facts["video_frames"], clip


@pytest.mark.parametrize("clip", ["WolfgangLanger_Pexels.mp4", "cockatoo_silent_track.mp4"])
def test_silent_track_is_reported_missing(clip):
    stream = MediaStream(shared_path("media", "clips", clip), audio=(AudioRequest(16000),))
    _drain(stream)
    assert stream.stats.has_audio and stream.stats.audio_missing


def test_quiet_but_real_audio_is_not_missing():
    stream = MediaStream(shared_path("media", "clips", "single_face.mp4"), audio=(AudioRequest(16000),))
    _drain(stream)
    assert not stream.stats.audio_missing


def test_no_audio_stream_is_missing(tmp_path):
    path = write_video(tmp_path / "mute.mp4", 1.0, audio=False)
    stream = MediaStream(path, audio=(AudioRequest(16000),))
    _drain(stream)
    assert not stream.stats.has_audio and stream.stats.audio_missing


def test_audio_only_file_is_a_clear_error():
    path = shared_path("media", "clips", "jfk.flac")
    with pytest.raises(MediaError, match=r"jfk\.flac: no video stream"):
        probe(path)
    assert probe(path, require_video=False).audio_rate == 44100


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_raise_media_error_naming_the_file(name):
    path = shared_path("media", "bad_inputs", name)
    with pytest.raises(MediaError) as info:
        _drain(MediaStream(path, video=(VideoRequest(width=16, height=16),), audio=(AudioRequest(16000),)))
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, MediaError)


def test_cut_download_is_an_error_unless_partial_allowed():
    path = shared_path("media", "bad_inputs", "movie-hello_cut_at_100kB.mp4")
    with pytest.raises(MediaError, match="truncated"):
        _drain(MediaStream(path, video=(VideoRequest(width=16, height=16),)))
    stream = MediaStream(path, video=(VideoRequest(width=16, height=16),), allow_truncated=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames, _ = _drain(stream)
    assert any("truncated" in str(w.message) for w in caught)
    assert 0 < len(frames) < 60 and stream.stats.truncated


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="directory"):
        probe(tmp_path)

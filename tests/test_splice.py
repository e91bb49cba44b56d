"""Spliced emotional streams: ground truth from sample counts, honest A/V, varied streams."""
from __future__ import annotations

import av
import numpy as np
import pytest
from conftest import shared_path
from scipy.signal import correlate

from tsl300.data.splice import (BACKGROUND, Piece, crema_d_speaker, decode_source, emodb_speaker,
                                plan_stream, splice_stream)
from tsl300.errors import MediaError


@pytest.fixture(scope="module")
def crema_1001():
    source = crema_d_speaker(shared_path("media", "clips"), "1001")
    return source, decode_source(source)


def decode_file(path):
    with av.open(str(path)) as c:
        frames, audio = 0, []
        for f in c.decode(c.streams.video[0], c.streams.audio[0]):
            if isinstance(f, av.VideoFrame):
                frames += 1
            else:
                audio.append(f.to_ndarray().reshape(-1))
        return frames, np.concatenate(audio), c.streams.audio[0].rate


def test_sources_map_emotions_to_polarity():
    crema = crema_d_speaker(shared_path("media", "clips"), "1001")
    assert {c.emotion: c.role for c in crema.clips} == {
        "ANG": "n", "DIS": "n", "FEA": "n", "HAP": "p", "NEU": BACKGROUND, "SAD": "n"}
    assert crema.ship_ok
    emodb = emodb_speaker(shared_path("media", "speech_emotion", "emodb_speaker03"))
    assert not emodb.ship_ok
    assert emodb.roles() == {"p": 7, "n": 26, BACKGROUND: 11}  # 5 boredom clips left out
    assert not any(c.emotion == "L" for c in emodb.clips)


def test_source_without_clips_is_a_clear_error(tmp_path):
    with pytest.raises(MediaError, match="no \\['p', 'n', 'background'\\] clips"):
        crema_d_speaker(tmp_path, "1001")


def test_stream_ground_truth_comes_from_sample_counts(crema_1001, tmp_path):
    _, clips = crema_1001
    pieces = plan_stream(clips, np.random.default_rng(3), n_emotional=(3, 3))
    stream = splice_stream(clips, tmp_path / "s.mp4", pieces=pieces)
    sr = stream.sample_rate
    emotional = [p for p in pieces if p.role != BACKGROUND]
    assert len(stream.segments) == 3 and {s.label for s in stream.segments} == {"p", "n"}
    # each segment is exactly its clip's decoded samples, placed after the pieces before it
    for seg, piece in zip(stream.segments, emotional):
        k = pieces.index(piece)
        assert seg.start == sum(p.length for p in pieces[:k]) / sr
        assert seg.end - seg.start == pytest.approx(len(clips[piece.clip].audio) / sr, abs=1e-12)
    assert stream.n_samples == sum(p.length for p in pieces)
    # the file holds those samples with no shift (AAC priming is trimmed by the muxer)
    frames, audio, rate = decode_file(stream.path)
    assert rate == sr and frames == stream.n_frames
    assert 0 <= len(audio) - stream.n_samples < 1024
    reference = np.concatenate([clips[p.clip].audio[p.offset:p.offset + p.length] for p in pieces])
    n = 2 * sr
    lag = np.argmax(correlate(audio[:n], reference[:n], mode="full", method="fft")) - (n - 1)
    assert lag == 0
    # the video track covers the audio: one frame per 1/fps, all decoded
    assert frames == int(np.ceil(stream.duration * stream.fps))


def test_streams_differ_by_order_and_background(crema_1001, tmp_path):
    _, clips = crema_1001
    plans = [plan_stream(clips, np.random.default_rng(seed)) for seed in range(6)]
    layouts = {tuple((p.clip, p.offset, p.length) for p in plan) for plan in plans}
    assert len(layouts) == 6
    for plan in plans:
        roles = [p.role for p in plan]
        assert roles[0] == BACKGROUND and roles[-1] == BACKGROUND
        emotional = [p.clip for p in plan if p.role != BACKGROUND]
        assert 2 <= len(emotional) <= 5 and len(set(emotional)) == len(emotional)
        assert {clips[i].clip.role for i in emotional} == {"p", "n"}


def test_audio_only_source_gets_a_still_video_track(tmp_path):
    source = crema_d_speaker(shared_path("media", "speech_emotion", "crema_d_1002"), "1002")
    clips = decode_source(source)
    assert all(c.frames is None for c in clips)
    stream = splice_stream(clips, tmp_path / "a.mp4", rng=np.random.default_rng(0))
    assert stream.synthetic_video and stream.fps == 25.0
    with av.open(str(stream.path)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
        assert c.streams.video[0].width == 320
    assert frame.max() <= 20  # a black still


def test_explicit_pieces_reproduce_a_stream(crema_1001, tmp_path):
    _, clips = crema_1001
    hap = next(i for i, c in enumerate(clips) if c.clip.emotion == "HAP")
    neu = next(i for i, c in enumerate(clips) if c.clip.emotion == "NEU")
    pieces = [Piece(neu, 100, 44100, BACKGROUND), Piece(hap, 0, len(clips[hap].audio), "p"),
              Piece(neu, 0, 22050, BACKGROUND)]
    stream = splice_stream(clips, tmp_path / "x.mp4", pieces=pieces)
    assert len(stream.segments) == 1
    seg = stream.segments[0]
    assert (seg.start, seg.label) == (1.0, "p")
    assert seg.end == pytest.approx(1.0 + clips[hap].seconds)
    assert stream.duration == pytest.approx(1.5 + clips[hap].seconds)


def test_point_labels_fall_inside_their_segments():
    from tsl300.data.splice_dataset import point_labels
    from tsl300.data.types import Segment

    segments = [Segment(1.0, 3.0, "p"), Segment(4.0, 4.5, "n"), Segment(10.0, 12.4, "n")]
    fps = 29.97
    rng = np.random.default_rng(0)
    draws = [point_labels(segments, fps, rng) for _ in range(200)]
    for points, frames in draws:
        assert points[:, 1].tolist() == [1, 0, 0]
        assert (points[:, 0] == frames // 16).all()
        for f, seg in zip(frames, segments):
            assert seg.start * fps - 1 <= f < seg.end * fps
    # drawn around the centre, not always at it
    first = np.array([frames[0] for _, frames in draws]) / fps
    assert abs(first.mean() - 2.0) < 0.1 and first.std() > 0.15


def test_shipped_example_is_the_documented_splice(tmp_path):
    """The example video in the package is reproducible from the real clips and its recorded seed."""
    import json
    from pathlib import Path

    import tsl300
    from tsl300.data.splice_dataset import write_example

    shipped = Path(tsl300.__file__).parent / "resources" / "examples" / "crema_d_1001_example.mp4"
    recorded = json.loads(shipped.with_suffix(".gt.json").read_text())["stream"]
    stream = write_example(shared_path("media"), tmp_path / "example.mp4")
    assert [(s.start, s.end, s.label) for s in stream.segments] == [
        (g["start"], g["end"], g["label"]) for g in recorded["segments"]]
    assert stream.n_samples == recorded["n_samples"] and 10 < stream.duration < 20
    assert shipped.stat().st_size < 400_000


@pytest.mark.slow
def test_build_all_writes_ship_ok_default_and_leave_one_source_out_folds(tmp_path):
    from tsl300.data import load_dataset
    from tsl300.data.splice_dataset import build_all

    roots = build_all(shared_path("media"), tmp_path, streams=1, test_streams=1, seed=3)
    assert sorted(roots) == ["default", "loso_crema_d_1001", "loso_crema_d_1002", "loso_emodb_03"]
    default = load_dataset(roots["default"], "train")
    assert sorted(default.vids) == ["crema_d_1001_000", "crema_d_1002_000"]  # CREMA-D only: ship-ok
    assert set(default.specs) == {"visual_stats", "audio_prosody"}
    held = load_dataset(roots["loso_emodb_03"], "test", points="none")
    assert sorted(held.vids) == ["emodb_03_000", "emodb_03_test_000"]
    assert all(held[i].segments for i in range(len(held)))
    train = load_dataset(roots["loso_emodb_03"], "train")
    assert not any(v.startswith("emodb") for v in train.vids)
    for i in range(len(train)):
        video = train[i]
        assert len(video.points) >= 2 and set(video.points[:, 1]) <= {0, 1}
        assert video.points[:, 0].max() < video.num_snippets

"""localize() / load_model() / ``tsl300 localize`` on real clips with a model saved by the test.

The model here has random weights saved through the real checkpoint code, so these tests check
the plumbing (decoding, features, windows, exports, CLI, errors) fast; the shipped model's
accuracy is checked in ``test_localize_default.py``.
"""
from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import shared_path

import tsl300
from tsl300.api import merge_window_segments, pick_device, plan_windows
from tsl300.cli import main
from tsl300.data.types import Segment, Video
from tsl300.errors import CheckpointError, MediaError, SpecMismatchError
from tsl300.types import LocalizationResult, read_csv, read_srt


@pytest.fixture(scope="module")
def random_model(tiny_flagship_checkpoint):
    return tiny_flagship_checkpoint


@pytest.fixture(scope="module")
def model(random_model):
    return tsl300.load_model(random_model, device="cpu")


def test_plan_windows_cover_the_video_with_overlap():
    assert plan_windows(10, 4, 1) == [(0, 4), (3, 4), (6, 4)]
    assert plan_windows(3, 4, 1) == [(0, 3)]
    assert plan_windows(4, 4, 0) == [(0, 4)]
    windows = plan_windows(1000, 128, 16)
    covered = np.zeros(1000, bool)
    for s, n in windows:
        covered[s:s + n] = True
    assert covered.all() and windows[-1] == (1000 - 128, 128)
    assert all(b[0] - a[0] == 112 for a, b in zip(windows[:-2], windows[1:-1]))
    with pytest.raises(ValueError):
        plan_windows(10, 4, 4)


def test_window_merge_keeps_the_best_of_duplicates():
    segs = [Segment(1.0, 3.0, "p", 0.9), Segment(1.1, 3.0, "p", 0.5), Segment(1.0, 3.0, "n", 0.4),
            Segment(5.0, 6.0, "p", 0.3)]
    kept = merge_window_segments(segs, 0.5)
    assert sorted((s.start, s.label, s.score) for s in kept) == [
        (1.0, "n", 0.4), (1.0, "p", 0.9), (5.0, "p", 0.3)]


def test_device_defaults_to_cuda_when_present_else_cpu():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device(None).type == expected
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no-such-model: no such model"):
        tsl300.load_model("no-such-model")
    pickle = tmp_path / "model.pkl"
    pickle.write_bytes(b"\x80\x04\x95" + b"\0" * 40)
    with pytest.raises(CheckpointError, match="pickle"):
        tsl300.load_model(pickle)


@pytest.fixture(scope="module")
def clip_result(model):
    """The random model on a real 5.5 s clip (decoded once for the module)."""
    return model.localize(shared_path("media", "clips", "mp4.mp4"))


@pytest.fixture(scope="module")
def short_clip():
    return shared_path("media", "clips", "1001_DFA_HAP_XX.flv")


def test_localize_a_real_clip(clip_result, random_model):
    res = clip_result
    assert isinstance(res, LocalizationResult)
    meta = res.metadata
    assert meta.fps == pytest.approx(30.0) and meta.duration == pytest.approx(5.53, abs=0.05)
    assert res.scores.shape == (math.ceil(meta.duration * meta.fps / 16), 2)
    assert ((res.scores >= 0) & (res.scores <= 1)).all()
    assert meta.model_sha256 == hashlib.sha256(random_model.read_bytes()).hexdigest()
    assert [e["name"] for e in meta.extractors] == ["visual_stats", "audio_prosody"]
    assert meta.package_version == tsl300.__version__ and not meta.audio_missing
    assert [s.start for s in res] == sorted(s.start for s in res)
    assert all(0 <= s.start < s.end <= meta.duration + 1e-9 for s in res)
    assert {s.label for s in res} <= {"positive", "negative"}


def test_a_list_in_gives_a_list_out(model, short_clip):
    one = model.localize(short_clip)
    many = model.localize([short_clip, str(short_clip)])
    assert len(many) == 2 and all(np.array_equal(r.scores, one.scores) for r in many)
    assert one.metadata.duration == pytest.approx(1.87, abs=0.05)


def test_windows_bound_the_sequence_and_agree_with_one_pass(model):
    from tsl300.featurize import featurize

    video = featurize(shared_path("media", "clips", "mp4.mp4"), model.spec.extractor_specs)
    whole = model.localize_features(video)
    windowed = model.localize_features(video, window=4, overlap=2)
    assert windowed.metadata.windows == 5 and whole.metadata.windows == 1
    assert windowed.scores.shape == whole.scores.shape == (11, 2)
    # the model's temporal context is short: scores only differ near window edges, a little
    assert np.abs(windowed.scores - whole.scores).mean() < 0.05


def _video_only_copy(src, dst):
    """Re-encode the video stream of ``src`` alone (a file without any audio stream)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 240, 180, "yuv420p"
        for k, frame in enumerate(inp.decode(video=0)):
            frame = frame.reformat(width=240, height=180, format="yuv420p")
            frame.pts, frame.time_base = k, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_video_without_audio_is_masked_and_says_so(model, short_clip, tmp_path):
    silent = tmp_path / "no_audio.mp4"
    _video_only_copy(short_clip, silent)
    res = model.localize(silent)
    assert res.metadata.audio_missing and res.metadata.missing_modalities == ["audio_prosody"]
    assert res.metadata.duration == pytest.approx(56 / 25)
    assert "audio masked" in str(res)


@pytest.mark.parametrize("name", ["zero_bytes.mp4", "text_file.mp4", "truncated_262_bytes.mp4",
                                  "movie-hello_cut_at_100kB.mp4"])
def test_bad_inputs_raise_media_errors_naming_the_file(model, name):
    path = shared_path("media", "bad_inputs", name)
    with pytest.raises(MediaError, match=name.replace(".", r"\.")):
        model.localize(path)


def test_missing_file_and_audio_only_file(model, tmp_path):
    with pytest.raises(MediaError, match="nothing.mp4: no such file"):
        model.localize(tmp_path / "nothing.mp4")
    result = model.localize(shared_path("media", "clips", "jfk.flac"))  # audio files are inputs
    assert result.metadata.clock == "audio" and result.metadata.duration == pytest.approx(11.0, abs=0.1)


def test_extractor_spec_mismatch_is_refused(model):
    spec = dict(model.spec.extractor_specs["visual_stats"], version="999")
    from tsl300.featurize import extractor_from_spec

    with pytest.raises(SpecMismatchError, match="version"):
        extractor_from_spec(spec)


def test_localize_features_uses_the_time_grid(model):
    rng = np.random.default_rng(0)
    video = Video("v", 25.0, {m: rng.normal(size=(30,) + tuple(s)).astype(np.float32)
                              for m, s in model.spec.modality_shapes.items()}, duration=19.1)
    res = model.localize_features(video)
    assert res.scores.shape == (30, 2)
    np.testing.assert_allclose(res.snippet_starts[:3], [0.0, 0.64, 1.28])
    assert res.snippet_ends[-1] == pytest.approx(19.1)


def test_cli_writes_every_promised_file(random_model, clip_result, tmp_path):
    clip = shared_path("media", "clips", "mp4.mp4")
    out = tmp_path / "out"
    code = main(["localize", str(clip), "-o", str(out), "-f", "all", "-m", str(random_model), "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["mp4.csv", "mp4.json", "mp4.png", "mp4.srt"]
    result = LocalizationResult.from_json(out / "mp4.json")
    direct = clip_result
    assert result.segments == direct.segments
    np.testing.assert_array_equal(result.scores, direct.scores)
    assert read_csv(out / "mp4.csv") == {"mp4": direct.segments}
    assert [(round(s.start, 3), s.label) for s in read_srt(out / "mp4.srt")] == [
        (round(s.start, 3), s.label) for s in direct.segments]
    assert (out / "mp4.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "mp4.json").read_text())
    assert list(data["results"]) == ["mp4"]


def test_cli_reports_each_failed_file_and_exits_non_zero(random_model, short_clip, tmp_path, capsys):
    good = short_clip
    bad = shared_path("media", "bad_inputs", "text_file.mp4")
    out = tmp_path / "out"
    code = main(["localize", str(good), str(bad), str(tmp_path / "gone.mkv"), "-o", str(out),
                 "-f", "csv", "-m", str(random_model), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 of 3 video(s) done" in err
    assert f"  {bad}: " in err and "gone.mkv: no such file" in err
    assert sorted(p.name for p in out.iterdir()) == ["1001_DFA_HAP_XX.csv"]


def test_cli_usage_errors(random_model, tmp_path, capsys):
    assert main(["localize", str(tmp_path), "-m", str(random_model)]) == 2  # empty folder
    assert "no video files" in capsys.readouterr().err
    assert main(["localize", "x.mp4", "-m", str(tmp_path / "missing_model")]) == 1
    assert "no such model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["localize", "x.mp4", "-f", "docx"])
    assert exc.value.code == 2


def test_default_output_has_no_same_class_overlap_but_all_proposals_keeps_them():
    from pathlib import Path

    example = Path(tsl300.__file__).parent / "resources" / "examples" / "crema_d_1001_example.mp4"
    model = tsl300.load_model("default", device="cpu")
    clean = model.localize(example, threshold=0.0)  # 0.0: no default-threshold cut, only the overlap rule
    full = model.localize(example, all_proposals=True)
    assert len(full.segments) >= len(clean.segments) > 0
    for label in ("positive", "negative"):
        same = sorted((s for s in clean.segments if s.label == label), key=lambda s: s.start)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(same, same[1:]))
    # the clean list is a subset of the full ranked list, best proposal of each class kept
    keys = {(s.label, round(s.start, 6), round(s.end, 6)) for s in full.segments}
    assert all((s.label, round(s.start, 6), round(s.end, 6)) in keys for s in clean.segments)
    for label in ("positive", "negative"):
        scores = [s.score for s in full.segments if s.label == label]
        if scores:
            assert max(scores) == max(s.score for s in clean.segments if s.label == label)

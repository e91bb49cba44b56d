"""Bad-input corpus through ``tsl300 extract`` and ``tsl300 localize``: every file gives its
documented outcome (a result, or a clear error naming the file) and one bad file never stops a
batch.

Corpus: the four files in ``../shared/media/bad_inputs`` and a PNG picture, plus files
generated here: 1 frame, 15 frames (< one snippet), a video whose audio stream holds 0 samples,
4000x3000 pixels, variable frame rate, a phone-style rotated video (display matrix), and a name with spaces and non-ASCII characters. Output faults: an output
folder that cannot be created (a path under a file; tests run as root, so chmod would not stop
them) and a disk that fills up (``os.replace`` raising ENOSPC).
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import shared_path
from media_factory import png_image

import tsl300
from tsl300.cli import main
from tsl300.errors import MediaError
from tsl300.io import MediaStream, VideoRequest, probe
from tsl300.io.synthetic import write_video
from tsl300.types import LocalizationResult

BAD_SHARED = ["zero_bytes.mp4", "text_file.mp4", "truncated_262_bytes.mp4", "movie-hello_cut_at_100kB.mp4"]
UNICODE_NAME = "clip with spaces é ü 日本"
FPS = 25

# expected outcome of each generated good file: grid frames after decoding, audio missing?
GOOD = {
    "one_frame": (1, False),
    "fifteen_frames": (15, False),
    "zero_second_audio": (20, True),
    "huge_4000x3000": (2, True),
    "variable_fps": (None, False),
    "rotated_phone": (20, True),
    UNICODE_NAME: (25, False),
}


def _blocks(width: int, height: int) -> np.ndarray:
    """An asymmetric picture (red left half, blue top quarter) whose orientation is visible."""
    image = np.full((height, width, 3), 60, np.uint8)
    image[:, : width // 2] = (230, 20, 20)
    image[: height // 4] = (20, 20, 230)
    return image


def _write_frames(path, image: np.ndarray, n: int, codec="libx264", rotation=None, audio_stream=False):
    """``n`` copies of ``image`` at 25 fps; ``audio_stream`` adds an AAC stream with no samples."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "crf": "10"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if audio_stream:
            out.add_stream("aac", rate=16000, layout="mono")
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def tone(t):
    return [(0.0, t, 440.0)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Folder with every generated input; returns (folder, {stem: path}, [bad paths])."""
    folder = tmp_path_factory.mktemp("corpus")
    good = {
        "one_frame": write_video(folder / "one_frame.mp4", 1 / FPS, FPS, tones=tone(1)),
        "fifteen_frames": write_video(folder / "fifteen_frames.mp4", 15 / FPS, FPS, tones=tone(1)),
        "zero_second_audio": _write_frames(folder / "zero_second_audio.mp4", _blocks(64, 48), 20,
                                           audio_stream=True),
        "huge_4000x3000": _write_frames(folder / "huge_4000x3000.mkv", _blocks(4000, 3000), 2, codec="mpeg4"),
        # frames at irregular times (a phone camera dropping frames): the grid uses the
        # average rate (ffprobe's avg_frame_rate, as TSL-300) and gaps repeat the last picture
        "variable_fps": write_video(folder / "variable_fps.mp4", 2.0, FPS, tones=tone(2),
                                    frame_times=np.cumsum([0] + [0.04, 0.08, 0.04, 0.12, 0.04, 0.2] * 4)),
        "rotated_phone": _write_frames(folder / "rotated_phone.mp4", np.rot90(_blocks(48, 64), 1), 20,
                                       rotation=-90),
    }
    spaced = folder / "sub dir ö"
    spaced.mkdir()
    good[UNICODE_NAME] = write_video(spaced / f"{UNICODE_NAME}.mp4", 1.0, FPS, tones=tone(1))
    bad = [shared_path("media", "bad_inputs", n) for n in BAD_SHARED]
    bad += [png_image(folder / "picture.png")]  # audio files are inputs (test_reliability_inputs.py)
    return folder, good, bad


@pytest.fixture(scope="module")
def extracted(corpus, tmp_path_factory):
    """One ``tsl300 extract`` batch over the whole corpus (good and bad files mixed)."""
    folder, good, bad = corpus
    out = tmp_path_factory.mktemp("features")
    code = main(["extract", str(folder), *map(str, bad), "-o", str(out), "-q"])
    return code, out


def test_extract_batch_gives_results_and_names_each_bad_file(corpus, extracted, capfd):
    folder, good, bad = corpus
    code, out = extracted
    assert code == 1  # some files failed
    fps = json.loads((out / "fps_dict.json").read_text())
    assert sorted(fps) == sorted(good)  # every good file done, no bad one
    for stem, (frames, audio_missing) in GOOD.items():
        info = probe(good[stem])
        if frames is None:  # VFR: frames land on the constant grid of the average rate
            frames = int(round((info.duration) * info.fps))
        rows = np.load(out / "features" / "test" / "visual_stats" / f"{stem}.npy")
        assert rows.shape[0] == math.ceil(frames / 16), stem
        assert np.isfinite(rows).all(), stem
        marker = out / "features" / "test" / "audio_prosody" / f"{stem}.missing"
        assert marker.exists() == audio_missing, stem
        assert fps[stem] == pytest.approx(info.fps)


def test_rerun_skips_done_files_and_reports_the_same_failures(corpus, extracted, capsys):
    folder, good, bad = corpus
    _, out = extracted
    capsys.readouterr()
    code = main(["extract", str(folder), *map(str, bad), "-o", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"extracted 0, skipped {len(good)} already done, failed {len(bad)}" in captured.out
    reasons = {
        "zero_bytes.mp4": "file is empty (0 bytes)",
        "text_file.mp4": "not a readable media file (",
        "truncated_262_bytes.mp4": "no audio or video stream",
        "movie-hello_cut_at_100kB.mp4": "truncated or corrupt",
        "picture.png": "a still image, not a video or audio file",
    }
    lines = [line.strip() for line in captured.err.splitlines() if line.startswith("  ")]
    assert len(lines) == len(bad)
    for path in bad:
        line = next(x for x in lines if x.startswith(f"{path}: "))
        assert reasons[path.name] in line and "unexpected" not in line and "Traceback" not in line


def test_localize_batch_matches_extract_and_names_each_bad_file(corpus, extracted, tiny_model, tmp_path, capsys):
    folder, good, bad = corpus
    _, features = extracted
    out = tmp_path / "results"
    code = main(["localize", *map(str, good.values()), *map(str, bad), "-o", str(out), "-f", "json",
                 "-m", str(tiny_model), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{len(good)} of {len(good) + len(bad)} video(s) done" in err
    for path in bad:
        assert f"  {path}: " in err
    for stem, path in good.items():
        result = LocalizationResult.from_json(out / f"{stem}.json")
        rows = np.load(features / "features" / "test" / "visual_stats" / f"{stem}.npy").shape[0]
        assert result.scores.shape == (rows, 2), stem  # same time grid as extract
        assert np.isfinite(result.scores).all(), stem
        assert result.metadata.audio_missing == GOOD[stem][1], stem
    # the Python API gives the same, and the same errors
    direct = tsl300.localize(good["fifteen_frames"], model=str(tiny_model))
    written = LocalizationResult.from_json(out / "fifteen_frames.json")
    np.testing.assert_allclose(direct.scores, written.scores, atol=1e-6)
    for path in bad:
        with pytest.raises(MediaError, match=re.escape(str(path))):
            tsl300.localize(path, model=str(tiny_model))


def test_rotated_phone_video_is_decoded_upright(corpus):
    """The display matrix is applied, as players and ``ffmpeg`` do: a portrait phone clip stored
    as a landscape picture comes out portrait and the right way up."""
    _, good, _ = corpus
    stream = MediaStream(good["rotated_phone"], video=(VideoRequest(),))
    frames = np.concatenate([e.frames[VideoRequest()] for e in stream])
    assert frames.shape == (20, 64, 48, 3)
    upright = _blocks(48, 64).astype(int)
    assert np.abs(frames[0].astype(int) - upright).mean() < 6


def test_rotation_is_applied_before_resizing(corpus):
    _, good, _ = corpus
    request = VideoRequest(short_side=24)
    stream = MediaStream(good["rotated_phone"], video=(request,))
    frame = next(iter(stream)).frames[request][0]
    assert frame.shape == (32, 24, 3)
    assert frame[:7, :, 2].mean() > 180  # blue band on top
    assert frame[9:, :11, 0].mean() > 180 and frame[9:, 13:, 0].mean() < 100  # red on the left only


# --------------------------------------------------------------------------- output faults


def test_output_folder_that_cannot_be_created_is_one_clear_error(corpus, tmp_path, capsys):
    _, good, _ = corpus
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["extract", str(good["one_frame"]), "-o", str(blocker / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("tsl300 extract: error: ") and str(blocker) in err and "Not a directory" in err
    assert "Traceback" not in err


def test_localize_into_an_unwritable_folder_is_one_clear_error(corpus, tiny_model, tmp_path, capsys):
    _, good, _ = corpus
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["localize", str(good["one_frame"]), "-o", str(blocker / "out"), "-m", str(tiny_model),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and str(blocker) in err and "Traceback" not in err


def test_full_disk_fails_each_file_clearly_and_leaves_no_partial_file(corpus, tmp_path, monkeypatch, capsys):
    folder, good, _ = corpus
    out = tmp_path / "out"
    # the spec files fit; then the disk is full for every feature file
    assert main(["extract", str(good["one_frame"]), "-o", str(out), "-q"]) == 0
    real_replace = os.replace

    def full_disk(src, dst, *args, **kwargs):
        if str(dst).endswith((".npy", ".json", ".missing")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    inputs = [good["fifteen_frames"], good["zero_second_audio"]]
    code = main(["extract", *map(str, inputs), "-o", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 1
    for path in inputs:
        assert f"{path}: cannot write its features under {out}: No space left on device" in captured.err
    monkeypatch.setattr(os, "replace", real_replace)
    leftovers = [p for p in out.rglob("*") if p.is_file() and ".tmp" in p.name]
    assert leftovers == []  # the temporary files were removed
    assert sorted(json.loads((out / "fps_dict.json").read_text())) == ["one_frame"]
    # once there is space again, the rerun completes exactly the missing files
    assert main(["extract", *map(str, inputs), "-o", str(out), "-q"]) == 0
    assert "extracted 2, skipped 0" in capsys.readouterr().out


def test_non_ascii_path_keeps_its_id(corpus, extracted):
    _, good, _ = corpus
    _, out = extracted
    assert (out / "features" / "test" / "visual_stats" / f"{UNICODE_NAME}.npy").is_file()
    with pytest.raises(MediaError, match="no video stream"):
        probe(shutil.copy(shared_path("media", "clips", "jfk.flac"), out / "jfk ü.flac"))


# --------------------------------------------------------------------------- model


@pytest.fixture(scope="module")
def tiny_model(tiny_flagship_checkpoint):
    return tiny_flagship_checkpoint

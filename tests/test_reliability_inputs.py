"""Inputs a user hands over: audio files and pictureless videos (issue 11, item 3), a model that
names a transformers extractor (issue 18, item 11), and inputs that used to end in a raw
traceback instead of a named error (issue 18, item 12)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from media_factory import audio_file, audio_with_cover, av_file

import tsl300
from tsl300.cli import main
from tsl300.errors import CheckpointError, DataError, MediaError, SpecMismatchError
from tsl300.io.probe import AUDIO_CLOCK_FPS


@pytest.fixture(scope="module")
def model(tiny_flagship_checkpoint):
    return tsl300.load_model(tiny_flagship_checkpoint, device="cpu")


# ------------------------------------------------------------------ audio files (issue 11, 3)

@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac", ".m4a", ".ogg"])
def test_audio_files_run_on_the_audio_clock(suffix, tmp_path, model):
    path = audio_file(tmp_path / f"talk{suffix}", seconds=2.0)
    result = model.localize(path)
    meta = result.metadata
    assert meta.clock == "audio" and meta.fps == AUDIO_CLOCK_FPS
    assert meta.duration == pytest.approx(2.0, abs=0.12)  # codec padding: mp3, aac, opus
    assert meta.missing_modalities == ["visual_stats"] and not meta.audio_missing
    assert meta.streams == {"video": None, "audio": 0}
    assert result.scores.shape[0] == int(np.ceil(meta.duration * AUDIO_CLOCK_FPS / 16)) or \
        abs(result.scores.shape[0] - meta.duration * AUDIO_CLOCK_FPS / 16) <= 1


def test_a_video_file_without_a_picture_likewise(tmp_path, model):
    path = audio_file(tmp_path / "talk.m4a", seconds=2.0)
    renamed = path.rename(tmp_path / "talk.mp4")  # an .mp4 holding only sound
    result = model.localize(renamed)
    assert result.metadata.clock == "audio" and result.metadata.missing_modalities == ["visual_stats"]


def test_cover_art_is_not_a_picture_track(tmp_path, model):
    result = model.localize(audio_with_cover(tmp_path / "song.mp3", 2.0))
    assert result.metadata.clock == "audio" and result.metadata.streams == {"video": None, "audio": 0}


def test_the_picture_is_masked_not_guessed(tmp_path):
    from tsl300.extractors import extract_video

    result = extract_video(audio_file(tmp_path / "talk.wav", 2.0), ["default"])
    assert result.missing == ("visual_stats",) and not result.features["visual_stats"].any()
    assert result.features["audio_prosody"].any()


def test_cli_localize_and_extract_take_audio_files(tmp_path, tiny_flagship_checkpoint, capsys):
    files = [audio_file(tmp_path / "a.wav", 1.5), audio_file(tmp_path / "b.mp3", 1.5),
             av_file(tmp_path / "c.mp4", 1.5, 1.5)]
    assert main(["localize", str(tmp_path), "-m", str(tiny_flagship_checkpoint), "-o", str(tmp_path / "o"),
                 "--quiet"]) == 0  # a folder search picks up audio files too
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.json", "b.json", "c.json"]
    assert main(["extract", *map(str, files), "-o", str(tmp_path / "f"), "-q"]) == 0
    assert (tmp_path / "f" / "features" / "test" / "visual_stats" / "a.missing").is_file()


# -------------------------------------------------- a transformers extractor (issue 18, 11)

@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    config = transformers.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=32, patch_size=16, projection_dim=8)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip")
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(folder)
    return folder


def test_a_model_naming_clip_vision_can_localize(tiny_clip, tmp_path):
    from tsl300.engine.checkpoint import save_checkpoint
    from tsl300.extractors import get_extractor
    from tsl300.featurize import extractor_from_spec
    from tsl300.methods.registry import ModelSpec, get_method
    from tsl300.recipes import recipe_from_dict

    spec = get_extractor("clip_vision", model=str(tiny_clip)).spec().to_dict()
    assert extractor_from_spec(spec).model_id == str(tiny_clip)  # built with its params, first time
    specs = {"clip_vision": spec}
    model_spec = ModelSpec({"clip_vision": tuple(spec["shape"])}, ("n", "p"), specs)
    recipe = recipe_from_dict({"method": "flagship", "data": {"modalities": ["clip_vision"]},
                               "model": {"hidden": 8, "attention_hidden": 4, "fusion_hidden": 8}})
    method = get_method("flagship")(recipe.model_config(), recipe.loss_config(), model_spec)
    save_checkpoint(tmp_path / "m", method, {"recipe": recipe.to_dict(), "spec": model_spec.to_json(),
                                             "method": "flagship", "classes": ["n", "p"]})
    result = tsl300.localize(av_file(tmp_path / "v.mp4", 1.0, None), model=tmp_path / "m.safetensors",
                             device="cpu")
    assert result.scores.shape == (2, 2) and result.metadata.extractors[0]["name"] == "clip_vision"


# ------------------------------------------------------- named errors (issue 18, item 12)

DEEP = "[" * 100000 + "]" * 100000


def test_deeply_nested_json_is_a_named_error(tmp_path, capsys):
    from tsl300.data.io import read_json
    from tsl300.engine.checkpoint import load_checkpoint
    from tsl300.types import LocalizationResult

    deep = tmp_path / "gt.json"
    deep.write_text(DEEP)
    with pytest.raises(DataError, match="gt.json: malformed JSON .*nested too deeply"):
        read_json(deep, "ground truth")
    with pytest.raises(DataError, match="nested too deeply"):
        LocalizationResult.from_json(deep)
    assert main(["eval", "--gt", str(deep), "--pred", str(deep)]) == 1
    err = capsys.readouterr().err
    assert "gt.json: not valid JSON (nested too deeply)" in err and "Traceback" not in err
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "m.safetensors"))
    (tmp_path / "m.json").write_text(DEEP)
    with pytest.raises(CheckpointError, match="m.json: sidecar is not valid JSON .nested too deeply"):
        load_checkpoint(tmp_path / "m")


@pytest.mark.parametrize("array, reason", [
    (np.array([["a", "b"]] * 4), "features must be numbers"),
    (np.zeros((4, 0), np.float32), "features have an empty dimension"),
])
def test_odd_npy_features_are_named_errors(array, reason, tmp_path):
    from tsl300.data.features import ModalityStore

    folder = tmp_path / "features" / "train" / "rgb"
    folder.mkdir(parents=True)
    np.save(folder / "v1.npy", array)
    with pytest.raises(DataError, match=f"v1.npy: {reason}"):
        ModalityStore(tmp_path, "train", "rgb").raw_shape("v1")


def test_rows_per_snippet_must_be_an_integer(tmp_path):
    from tsl300.data.features import ModalityStore

    folder = tmp_path / "features" / "train" / "audio"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"rows_per_snippet": "x"}))
    with pytest.raises(DataError, match="rows_per_snippet must be an integer >= 1, got 'x'"):
        ModalityStore(tmp_path, "train", "audio")


def test_a_spec_without_shape_is_a_named_error():
    from tsl300.extractors import ExtractorSpec

    with pytest.raises(SpecMismatchError, match="'shape' must be a list of integers, got '.missing.'"):
        ExtractorSpec.from_dict({"name": "visual_stats", "version": "1", "modality": "v", "input": "video"})


def test_resume_on_data_with_other_feature_sizes(tmp_path, capsys):
    for name, dim in (("A", 16), ("B", 24)):
        assert main(["synth", str(tmp_path / name), "--train", "4", "--test", "2", "--snippets-mean", "30",
                     "--modalities", f"rgb:{dim},audio:8"]) == 0
    common = ["--set", "schedule.steps=1", "--set", "batch_size=2", "--set", "select=last", "--no-test",
              "--quiet", "--threads", "1", "-o", str(tmp_path / "R")]
    recipe = os.path.join(os.path.dirname(__file__), "..", "recipes", "tsl300", "flagship.yaml")
    overrides = ["--set", "data.modalities=[rgb,audio]"]
    assert main(["train", recipe, "--data", str(tmp_path / "A"), *common, *overrides]) == 0
    capsys.readouterr()
    code = main(["train", recipe, "--data", str(tmp_path / "B"), *common, *overrides,
                 "--set", "schedule.steps=2", "--resume"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot resume on this data" in err and "Traceback" not in err


def test_disk_full_while_saving_a_checkpoint(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    from tsl300.engine import checkpoint

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(CheckpointError, match="cannot write the checkpoint .*No space left on device"):
        checkpoint.save_checkpoint(tmp_path / "m", torch.nn.Linear(2, 2), {"classes": ["n", "p"]})
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no temporary file left behind


def test_unknown_device_is_a_named_error(tmp_path, tiny_flagship_checkpoint, capsys):
    clip = av_file(tmp_path / "v.mp4", 1.0, 1.0)
    assert main(["localize", str(clip), "-m", str(tiny_flagship_checkpoint), "-o", str(tmp_path),
                 "--device", "foo"]) == 1
    err = capsys.readouterr().err
    assert "device 'foo': expected cpu, cuda, cuda:N or auto" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_as_input_is_named_as_such(tmp_path, model):
    fifo = tmp_path / "talk.mp4"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="talk.mp4: not a regular file"):
        model.localize(fifo)
    from tsl300.extractors import extract_video
    with pytest.raises(MediaError, match="talk.mp4: not a regular file"):
        extract_video(fifo, ["default"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_named_like_a_checkpoint_does_not_hang(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "model.safetensors")
    (run / "model.json").write_text("{}")
    code = ("import sys; from tsl300.engine.checkpoint import load_checkpoint\n"
            "try:\n    load_checkpoint(sys.argv[1])\nexcept Exception as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code, str(run / "model")], capture_output=True, text=True,
                          timeout=60)
    assert "model.safetensors: not a regular file" in done.stdout


def test_subtitles_of_an_audio_file_are_read(tmp_path):
    from tsl300.extractors import extract_video

    path = audio_file(tmp_path / "talk.wav", 2.0)
    (tmp_path / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:01,500\nI love this, it is wonderful!\n\n")
    result = extract_video(path, ["visual_stats", "text"])
    assert result.missing == ("visual_stats",)  # the picture is masked, the words are not
    assert result.features["text"][:, 0].max() > 0  # coverage of the first snippets

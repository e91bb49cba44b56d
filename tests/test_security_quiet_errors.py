"""Issue 18 item 10: values that used to give quiet wrong answers are errors naming the file
and the field: a string boolean, a NaN threshold, an unknown spec field, a sidecar whose method
is not its recipe's, an absurd fps, a video in both train and test."""
from __future__ import annotations

import json
import shutil

import pytest

import tsl300
from tsl300.cli import main
from tsl300.data import load_dataset, write_spec
from tsl300.data import features
from tsl300.data.synth import generate
from tsl300.engine.loader import load_trained
from tsl300.errors import CheckpointError, DataError, SpecMismatchError
from tsl300.extractors import ExtractorSpec, get_extractor
from tsl300.featurize import extractor_from_spec


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("base")
    generate(root, n_train=3, n_test=2, seed=5, snippets_mean=24)
    return root


@pytest.fixture
def root(base, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(base, dst)
    return dst


def _first(root, split="train"):
    return (root / f"split_{split}.txt").read_text().split()[0]


def test_allow_missing_must_be_a_real_boolean(root):
    vid = _first(root)
    (root / "features" / "train" / "logmfcc" / f"{vid}.npy").unlink()
    spec = write_spec(root, "train", "logmfcc", {"name": "x", "allow_missing": "false"})
    with pytest.raises(DataError) as info:  # was: "false" counted as true and filled zeros
        load_dataset(root, "train")
    assert str(spec) in str(info.value) and "'allow_missing' must be true or false" in str(info.value)


def test_unknown_spec_field_is_an_error(root):
    spec = write_spec(root, "train", "logmfcc", {"name": "x", "allow_mising": True})
    with pytest.raises(DataError) as info:
        load_dataset(root, "train")
    assert str(spec) in str(info.value) and "unknown field 'allow_mising'" in str(info.value)


def test_unknown_field_in_a_model_s_extractor_spec_is_an_error():
    spec = get_extractor("visual_stats").spec().to_dict()
    spec["short_sied"] = 64
    with pytest.raises(SpecMismatchError, match="model.json: unknown field 'short_sied'"):
        extractor_from_spec(spec, "model.json")


def test_spec_keys_cover_every_field_an_extractor_writes():
    assert set(get_extractor("visual_stats").spec().to_dict()) <= features.SPEC_KEYS
    assert set(ExtractorSpec.__dataclass_fields__) <= features.SPEC_KEYS


@pytest.mark.parametrize("value", ["nan", "inf", "-0.5", "1.5"])
def test_threshold_must_be_a_finite_score(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["localize", str(tmp_path / "v.mp4"), "--threshold", value])
    assert info.value.code == 2
    assert "--threshold" in capsys.readouterr().err


def test_threshold_nan_is_refused_by_the_api(tiny_flagship_checkpoint):
    model = tsl300.load_model(tiny_flagship_checkpoint, device="cpu")
    with pytest.raises(ValueError, match="threshold must be a finite score in"):
        model.localize("missing.mp4", threshold=float("nan"))


def test_sidecar_method_other_than_its_recipe_s_is_an_error(tiny_flagship_checkpoint, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(tiny_flagship_checkpoint, folder / "model.safetensors")
    meta = json.loads(tiny_flagship_checkpoint.with_suffix(".json").read_text())
    meta["method"] = "tsl_net"
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as info:
        load_trained(folder)
    assert str(folder / "model.safetensors") in str(info.value)
    assert "sidecar field 'method' is 'tsl_net' but its recipe's method is 'flagship'" in str(info.value)


@pytest.mark.parametrize("fps", [5e-324, 0.001, 1e7])
def test_absurd_fps_is_refused_when_the_data_is_read(root, fps):
    vid = _first(root)
    path = root / "fps_dict.json"
    table = json.loads(path.read_text())
    table[vid] = fps
    path.write_text(json.dumps(table))
    with pytest.raises(DataError) as info:
        load_dataset(root, "train")
    assert str(path) in str(info.value) and vid in str(info.value) and "bad fps" in str(info.value)


def test_a_video_in_both_train_and_test_is_an_error(root):
    vid = _first(root, "train")
    test_split = root / "split_test.txt"
    test_split.write_text(test_split.read_text() + f"{vid}\n")
    for split in ("train", "test"):
        with pytest.raises(DataError) as info:
            load_dataset(root, split)
        message = str(info.value)
        assert vid in message and "split_test.txt" in message and "split_train.txt" in message, message


def test_the_shipped_tsl300_splits_are_disjoint():
    from tsl300.data import tsl300_annotations

    root = tsl300_annotations()
    train = set((root / "split_train.txt").read_text().split())
    test = set((root / "split_test.txt").read_text().split())
    assert train and test and not train & test

"""Untrusted files: checkpoints, recipes and datasets from strangers run no code and reach no
file outside where they belong.

Every pickle payload here would create a marker file when unpickled; each test checks the file
is absent afterwards, so "refused" also means "never executed".
"""
from __future__ import annotations

import os
import pickle
import pickletools
import shutil
import zipfile

import numpy as np
import pytest
import torch
import yaml

import tsl300
from tsl300.cli import main
from tsl300.data import load_dataset
from tsl300.data.synth import generate
from tsl300.engine.checkpoint import load_checkpoint, save_checkpoint
from tsl300.errors import CheckpointError, DataError, RecipeError
from tsl300.recipes import load_recipe, recipe_from_dict


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: the file proves that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickles(marker) -> dict[str, bytes]:
    """The same payload as every pickle flavour a stranger could hand over."""
    out = {f"protocol{p}": pickle.dumps(_Payload(marker), protocol=p) for p in (0, 1, 2, 4, 5)}
    # a torch.save zip archive whose data.pkl holds the payload
    archive = marker.with_name("archive.zip")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", out["protocol2"])
        zf.writestr("archive/version", "3\n")
    out["torch_zip"] = archive.read_bytes()
    return out


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PAYLOAD_RAN"
    yield path
    assert not path.exists(), "a pickle payload was executed"


def test_payload_is_live(tmp_path):
    """Control: the payload really runs when unpickled, so its absence elsewhere means something."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
    assert any(op.name in ("REDUCE", "STACK_GLOBAL", "GLOBAL") for op, _, _ in
               pickletools.genops(pickle.dumps(_Payload(marker))))


@pytest.mark.parametrize("name", ["model.safetensors", "model.pt", "model_seed_123.pkl", "model.bin"])
def test_pickle_named_like_a_checkpoint_is_refused_unrun(tmp_path, marker, name, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("an unpickler was called")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    for flavour, blob in _pickles(marker).items():
        path = tmp_path / flavour / name
        path.parent.mkdir()
        path.write_bytes(blob)
        (path.parent / "model.json").write_text('{"format": "tsl300-checkpoint/1"}')
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert str(path) in message or str(path.with_suffix(".safetensors")) in message, message
        if flavour != "protocol0" and flavour != "protocol1" and path.suffix == ".safetensors":
            assert "pickle" in message and "never loads" in message, message


def test_pickle_checkpoint_through_every_entry_point(tmp_path, marker, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(pickle.dumps(_Payload(marker), protocol=4))
    (run / "model.json").write_text('{"format": "tsl300-checkpoint/1", "recipe": {"method": "flagship"}}')
    with pytest.raises(CheckpointError, match="pickle"):
        tsl300.load_model(run)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert main(["localize", str(video), "-m", str(run), "--quiet", "-o", str(tmp_path)]) == 1
    assert main(["test", str(run), "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("pickle") >= 2 and "Traceback" not in err


def test_sidecar_cannot_smuggle_code(tmp_path, marker):
    """The sidecar is JSON: at most data. A recipe in it naming a module or an object is refused."""
    from tsl300.methods.registry import ModelSpec, get_method

    spec = ModelSpec({"rgb": (8,)}, ("n", "p"))
    recipe = recipe_from_dict({"method": "flagship", "data": {"modalities": ["rgb"]},
                               "model": {"hidden": 8, "attention_hidden": 4, "fusion_hidden": 8}})
    method = get_method("flagship")(recipe.model_config(), recipe.loss_config(), spec)
    meta = {"recipe": dict(recipe.to_dict(), method="os.system"), "spec": spec.to_json(),
            "method": "os.system", "classes": ["n", "p"]}
    path = save_checkpoint(tmp_path / "model", method, meta)
    with pytest.raises(RecipeError, match="unknown method 'os.system'"):
        tsl300.load_model(path)


# ----------------------------------------------------------------------------- recipes

PAYLOADS = [
    "method: !!python/object/apply:builtins.open ['{marker}', 'w']",
    "method: flagship\nmodel: !!python/object/new:builtins.open ['{marker}', 'w']",
    "method: !!python/name:os.system ''",
    "method: flagship\nseed: !!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:subprocess.call [['touch', '{marker}']]",
    "method: flagship\nloss: !!python/module:os",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_recipe_cannot_run_code_or_import(tmp_path, marker, payload):
    path = tmp_path / "evil.yaml"
    path.write_text(payload.format(marker=marker))
    with pytest.raises(RecipeError, match="not valid YAML") as info:
        load_recipe(path)
    assert str(path) in str(info.value)
    # the same text as a --set override is kept as a plain string, never constructed
    with pytest.raises(RecipeError):
        recipe = load_recipe(_plain(tmp_path), [f"method={payload.format(marker=marker)}"])
        assert isinstance(recipe.method, str)


def _plain(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("method: flagship\ndata: {modalities: [rgb]}\n")
    return path


def test_yaml_safe_loader_is_the_only_loader(tmp_path, marker, monkeypatch):
    """Even if PyYAML's full loader is the default somewhere, recipes go through safe_load."""
    loaders = []
    real = yaml.load

    def spy(stream, Loader=None, **kwargs):
        loaders.append(Loader)
        return real(stream, Loader=Loader, **kwargs)

    monkeypatch.setattr(yaml, "load", spy)
    load_recipe(_plain(tmp_path), ["schedule.steps=3"])
    assert loaders and all(issubclass(loader, yaml.SafeLoader) for loader in loaders)


def test_inherit_reads_yaml_only(tmp_path, marker):
    evil = tmp_path / "base.yaml"
    evil.write_text(f"method: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    child = tmp_path / "child.yaml"
    child.write_text("inherit: base.yaml\nseed: 2\n")
    with pytest.raises(RecipeError, match="base.yaml: not valid YAML"):
        load_recipe(child)


# ----------------------------------------------------------------------------- dataset paths


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "data"
    generate(root, n_train=3, n_test=2, seed=1, snippets_mean=8)
    return root


@pytest.fixture
def copy(dataset, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(dataset, dst)
    secret = tmp_path / "secret"
    (secret / "rgb").mkdir(parents=True)
    np.save(secret / "rgb" / "stolen.npy", np.ones((8, 4), np.float32))
    return dst


@pytest.mark.parametrize("vid", ["../secret", "../../secret/rgb/stolen", "..", "a/../../b", "/etc/passwd",
                                 "..\\..\\x"])
def test_video_ids_cannot_leave_the_dataset_root(copy, vid):
    split = copy / "split_test.txt"
    split.write_text(split.read_text() + vid + "\n")
    with pytest.raises(DataError, match="invalid video id"):
        load_dataset(copy, "test")


def test_gt_and_point_ids_cannot_leave_the_root(copy):
    gt = copy / "gt.json"
    gt.write_text(gt.read_text().replace('"database": {', '"database": {"../x": {"subset": "test", '
                                                         '"annotations": []}, ', 1))
    with pytest.raises(DataError, match="invalid video id"):
        load_dataset(copy, "test")


def test_symlinked_feature_file_outside_the_root_is_refused(copy):
    vid = (copy / "split_test.txt").read_text().split()[0]
    target = copy / "features" / "test" / "rgb" / f"{vid}.npy"
    stolen = copy.parent / "secret" / "rgb" / "stolen.npy"
    np.save(stolen, np.load(target))
    target.unlink()
    os.symlink(stolen, target)
    with pytest.raises(DataError, match="outside the dataset folder"):
        load_dataset(copy, "test")


def test_split_name_cannot_leave_the_root(copy):
    for split in ("../train", "a/b", ".."):
        with pytest.raises((DataError, ValueError), match="split"):
            load_dataset(copy, split)

"""Numeric robustness of ``tsl300 train``: NaN/inf features are reported with the video id
before any training step; a diverging run stops with a message and never writes a checkpoint
holding NaN/inf; a non-finite learning rate is a recipe error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_tsl300 import write_tiny_dataset
from tsl300.cli import main
from tsl300.engine.checkpoint import load_checkpoint

RECIPE = """\
method: flagship
seed: 2
batch_size: 3
model: {hidden: 16, attention_hidden: 8, fusion_hidden: 16}
optimizer: {name: adam, lr: 1.0e-3}
schedule: {steps: 12, log_every: 1, checkpoint_every: 1}
data: {modalities: [rgb, logmfcc]}
"""



@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("numeric")
    data = write_tiny_dataset(root / "data", n_train=6, n_test=2, seed=1, rgb_dim=8, t_range=(12, 20))
    recipe = root / "tiny.yaml"
    recipe.write_text(RECIPE)
    return recipe, data


def _train(recipe, data, out, *extra):
    return main(["train", str(recipe), "--data", str(data), "--out", str(out), "--no-test", "--quiet",
                 "--threads", "1", *extra])


@pytest.mark.parametrize("split, modality, value", [("train", "rgb", np.nan), ("train", "logmfcc", np.inf),
                                                    ("test", "rgb", -np.inf)])
def test_non_finite_features_are_named_before_training(dataset, tmp_path, capsys, split, modality, value):
    recipe, data = dataset
    broken = tmp_path / "data"
    import shutil

    shutil.copytree(data, broken)
    vid = (broken / f"split_{split}.txt").read_text().split()[1]
    path = broken / "features" / split / modality / f"{vid}.npy"
    array = np.load(path)
    array[3 * 32 + 5 if modality == "logmfcc" else 3] = value  # in snippet 3 (32 log-mel rows each)
    np.save(path, array)
    out = tmp_path / "run"
    code = main(["train", str(recipe), "--data", str(broken), "--out", str(out), "--quiet",
                 "--set", "schedule.steps=2"])
    captured = capsys.readouterr()
    message = f"{path}: video '{vid}' has NaN/inf features in modality '{modality}' (first at snippet 3)"
    if split == "train":
        assert code == 1 and message in captured.err
        assert not (out / "checkpoints").exists()  # reported before any step
    else:  # a test split that cannot be read: reported up front, then training only, no test figures
        assert message in captured.out and captured.out.index(message) < captured.out.index("trained 2 steps")
        assert not (out / "metrics_test.json").exists()


@pytest.mark.parametrize("lr", ["1e6", "1e12"])
def test_divergence_stops_with_a_message_and_no_nan_checkpoint(dataset, tmp_path, capsys, lr):
    recipe, data = dataset
    out = tmp_path / "run"
    assert _train(recipe, data, out, "--set", f"optimizer.lr={lr}") == 1
    err = capsys.readouterr().err
    assert "tsl300 train: error: training diverged at step" in err and "lower optimizer.lr" in err
    assert "Traceback" not in err
    assert not (out / "model.safetensors").exists()
    checkpoints = list((out / "checkpoints").glob("*.safetensors"))
    assert checkpoints  # the last good state is kept ...
    for path in checkpoints:
        if path.name.endswith(".optim.safetensors"):
            continue
        ckpt = load_checkpoint(path, with_optimizer=True)
        tensors = list(ckpt.state_dict.values())
        tensors += [v for s in ckpt.optimizer_state["state"].values() for v in s.values() if torch.is_tensor(v)]
        assert all(torch.isfinite(t).all() for t in tensors if t.is_floating_point()), path  # ... and finite


@pytest.mark.parametrize("lr", ["inf", ".nan", "-1"])
def test_non_finite_learning_rate_is_a_recipe_error(dataset, tmp_path, capsys, lr):
    recipe, data = dataset
    assert _train(recipe, data, tmp_path / "run", "--set", f"optimizer.lr={lr}") == 1
    assert "'optimizer.lr' must be a finite number >= 0" in capsys.readouterr().err


def test_the_same_recipe_trains_cleanly(dataset, tmp_path, capsys):
    """Control: the failures above come from the faults, not from the tiny setup."""
    recipe, data = dataset
    assert _train(recipe, data, tmp_path / "run") == 0
    ckpt = load_checkpoint(tmp_path / "run" / "model.safetensors")
    assert ckpt.meta["step"] == 12 and all(torch.isfinite(t).all() for t in ckpt.state_dict.values())

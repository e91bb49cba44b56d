"""Crash and resume of ``tsl300 train`` on a tiny synthetic dataset (checkpoint every step).

- A crash at seeded write points (an exception out of the n-th rename: inside a checkpoint's
  three files, between checkpoints, while publishing the model), then ``--resume``: the final
  model has exactly the weights of an uninterrupted run, and its logs one row per step.
- A real ``python -m tsl300 train`` SIGKILLed at a seeded step and moment, then ``--resume``:
  the same.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_tsl300 import write_tiny_dataset
from conftest import dying_at_rename
from tsl300.cli import main
from tsl300.engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
STEPS = 6
RECIPE = f"""\
method: flagship
seed: 4
batch_size: 3
model: {{hidden: 16, attention_hidden: 8, fusion_hidden: 16}}
optimizer: {{name: adamw, lr: 3.0e-3}}
schedule: {{steps: {STEPS}, log_every: 1, checkpoint_every: 1}}
data: {{modalities: [rgb, logmfcc]}}
"""



@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = write_tiny_dataset(root / "data", n_train=6, n_test=2, seed=2, rgb_dim=8, t_range=(12, 20))
    recipe = root / "tiny.yaml"
    recipe.write_text(RECIPE)
    ref = root / "reference"
    assert main(_argv(recipe, data, ref)) == 0
    return recipe, data, ref


def _argv(recipe, data, out, *extra):
    return ["train", str(recipe), "--data", str(data), "--out", str(out), "--no-test", "--quiet",
            "--threads", "1", *extra]


def assert_same_model(run: Path, ref: Path, steps: int = STEPS) -> None:
    got, want = load_checkpoint(run / "model.safetensors"), load_checkpoint(ref / "model.safetensors")
    assert sorted(got.state_dict) == sorted(want.state_dict)
    for key, value in want.state_dict.items():
        assert torch.equal(got.state_dict[key], value), key
    assert got.meta["step"] == want.meta["step"] == steps
    logged = [int(row["step"]) for row in csv.DictReader(open(run / "train_log.csv"))]
    assert logged == list(range(1, steps + 1))  # one row per step, none twice after the resume


def test_crash_at_seeded_write_points_then_resume(setup, tmp_path, monkeypatch, capsys):
    recipe, data, ref = setup
    rng = np.random.default_rng(7)
    # each step's checkpoint is six renames (optimizer, weights, sidecar: each to a pending name,
    # then into place), then four to publish the model (weights and sidecar to pending names,
    # then into place): every point of one seeded step, and more
    step = int(rng.integers(1, STEPS))
    points = sorted({6 * step + r for r in range(6)} | {int(rng.integers(0, 6 * STEPS))}
                    | {6 * STEPS + r for r in (1, 2, 3)})
    for crash_at in points:
        run = tmp_path / f"crash{crash_at}"
        with dying_at_rename(monkeypatch, crash_at):
            main(_argv(recipe, data, run))
        saved = (run / "checkpoints" / "last.json").exists() or (run / "checkpoints" / ".last.json.pending").exists()
        resume = ["--resume"] if saved else []  # died before its first checkpoint: start again
        assert main(_argv(recipe, data, run, *resume)) == 0, capsys.readouterr().err
        assert_same_model(run, ref)
    capsys.readouterr()


@pytest.mark.slow
def test_sigkill_then_resume(setup, tmp_path, capsys):
    recipe, data, _ = setup
    steps = 40  # long enough that the kill lands mid-run on a fast machine too
    longer = ["--set", f"schedule.steps={steps}"]
    ref = tmp_path / "reference"
    assert main(_argv(recipe, data, ref, *longer)) == 0
    rng = np.random.default_rng(11)
    run = tmp_path / "run"
    kill_step = int(rng.integers(3, steps // 2))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tsl300", *_argv(recipe, data, run, *longer)], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sidecar = run / "checkpoints" / "last.json"
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if json.loads(sidecar.read_text())["step"] >= kill_step:
                time.sleep(float(rng.uniform(0, 0.02)))
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.002)
    assert proc.poll() is None, "training finished before the kill: " + proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not (run / "model.safetensors").exists()
    assert main(_argv(recipe, data, run, *longer, "--resume")) == 0, capsys.readouterr().err
    assert_same_model(run, ref, steps)

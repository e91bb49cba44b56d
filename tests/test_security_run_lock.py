"""Issue 18 item 5: two ``tsl300 train`` into one ``--out``: the second is refused at once
(a real ``python -m tsl300 train`` holds the folder), the first finishes with one log row per
step, and a folder whose trainer died (SIGKILL) can be trained into again."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_tsl300 import write_tiny_dataset

from tsl300.cli import main

REPO = Path(__file__).resolve().parents[1]
STEPS = 100000  # the first run stops at --time-limit instead
RECIPE = f"""\
method: flagship
seed: 4
batch_size: 3
model: {{hidden: 16, attention_hidden: 8, fusion_hidden: 16}}
optimizer: {{name: adamw, lr: 3.0e-3}}
schedule: {{steps: {STEPS}, log_every: 1}}
data: {{modalities: [rgb, logmfcc]}}
"""


def _argv(recipe, data, out, steps=STEPS):
    return ["train", str(recipe), "--data", str(data), "--out", str(out), "--no-test", "--quiet",
            "--threads", "1", "--set", f"schedule.steps={steps}"]


def _start(recipe, data, out):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [*_argv(recipe, data, out), "--time-limit", "0.25"]  # 15 s of training
    return subprocess.Popen([sys.executable, "-m", "tsl300", *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_training(out: Path, proc, seconds: float = 120.0) -> None:
    """Until the first run has logged a step (it is mid-training)."""
    deadline = time.monotonic() + seconds
    log = out / "train_log.csv"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if log.is_file() and len(log.read_text().splitlines()) >= 2:
            return
        time.sleep(0.05)
    raise AssertionError("the first train never started training")


@pytest.fixture
def setup(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", n_train=6, n_test=2, seed=2, rgb_dim=8, t_range=(12, 20))
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    return recipe, data


@pytest.mark.slow
def test_second_train_into_a_busy_folder_is_refused(setup, tmp_path, capsys):
    recipe, data = setup
    out = tmp_path / "run"
    first = _start(recipe, data, out)
    try:
        _wait_until_training(out, first)
        started = time.monotonic()
        assert main(_argv(recipe, data, out, steps=3)) == 1
        assert time.monotonic() - started < 30
        err = capsys.readouterr().err
        assert f"{out}: another tsl300 train is writing into this run folder" in err
        assert "Traceback" not in err
        _, first_err = first.communicate(timeout=300)
        assert first.returncode == 0, first_err
    finally:
        if first.poll() is None:
            first.kill()
    steps = [int(row["step"]) for row in csv.DictReader(open(out / "train_log.csv"))]
    assert len(steps) > 3 and steps == list(range(1, len(steps) + 1))  # only the first run's rows, once each


@pytest.mark.slow
def test_a_killed_trainer_leaves_its_folder_usable(setup, tmp_path):
    recipe, data = setup
    out = tmp_path / "run"
    first = _start(recipe, data, out)
    _wait_until_training(out, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert main(_argv(recipe, data, out, steps=3)) == 0
    steps = [int(row["step"]) for row in csv.DictReader(open(out / "train_log.csv"))]
    assert steps == [1, 2, 3]

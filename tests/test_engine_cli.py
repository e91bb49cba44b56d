"""``tsl300 train`` -> ``tsl300 test`` end to end on a tiny TSL-300-layout dataset."""
from __future__ import annotations

import json

import pytest
import torch

from tiny_tsl300 import write_tiny_dataset
from tsl300.cli import main
from tsl300.eval import evaluate_detection

SMALL = ["--set", "model.hidden=16", "--set", "model.attention_hidden=8", "--set", "model.fusion_hidden=16",
         "--set", "schedule.steps=4", "--set", "batch_size=4", "--set", "data.max_snippets=null"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"), n_train=8, n_test=4, seed=2, rgb_dim=16)


def test_train_then_test_writes_predictions_the_evaluator_reads(tmp_path, data, capsys):
    threads = torch.get_num_threads()
    run = tmp_path / "run"
    try:
        assert main(["train", "recipes/tsl300/flagship.yaml", "--data", str(data), "--out", str(run),
                     "--seeds", "1,2", "--quiet", "--threads", "1"] + SMALL) == 0
        out = capsys.readouterr().out
        assert "seed 1: trained 4 steps" in out and "mean" in out and "std" in out
        summary = json.loads((run / "summary.json").read_text())
        assert summary["seeds"] == [1, 2] and 0 <= summary["mean"]["avg_mAP"] <= 100
        assert (run / "seed_1" / "model.safetensors").exists() and (run / "seed_2" / "train_log.csv").exists()
        sidecar = json.loads((run / "seed_1" / "model.json").read_text())
        assert sidecar["classes"] == ["n", "p"] and sidecar["spec"]["modality_shapes"]["logmfcc"] == [32, 60]
        assert sidecar["recipe"]["method"] == "flagship" and sidecar["step"] == 4

        pred = tmp_path / "pred.json"
        assert main(["test", str(run / "seed_1"), "--data", str(data), "-o", str(pred), "--threads", "1"]) == 0
        printed = capsys.readouterr().out
        assert "average mAP" in printed and str(pred) in printed
    finally:
        torch.set_num_threads(threads)
    results = json.loads(pred.read_text())
    assert set(results["results"]) == {f"t{i:03d}" for i in range(4)}
    metrics = evaluate_detection(data / "gt.json", pred)
    assert 0.0 <= metrics["average_mAP"] <= 1.0
    tested = json.loads((run / "seed_1" / "metrics_test.json").read_text())
    assert metrics["average_mAP"] == pytest.approx(tested["average_mAP"])  # same model, same numbers


def test_cli_errors_are_one_line(tmp_path, data, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: flagship\nmodel: {hiden: 3}\n")
    assert main(["train", str(bad), "--data", str(data), "--out", str(tmp_path / "r")]) == 1
    assert "did you mean 'hidden'" in capsys.readouterr().err
    fake = tmp_path / "model.safetensors"
    torch.save({"a": torch.ones(1)}, fake)
    assert main(["test", str(fake), "--data", str(data)]) == 1
    assert "pickle" in capsys.readouterr().err

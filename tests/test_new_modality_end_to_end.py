"""A third modality, end to end through the CLI: synthetic data in the generic layout with three
named modalities (one video lacks one of them), the flagship trained on all three, then tested.

This is the "add a modality" path users take: no code changes, only ``data.modalities``.
"""
from __future__ import annotations

import json

import torch

from tsl300.cli import main
from tsl300.engine.checkpoint import load_checkpoint

RECIPE = """\
method: flagship
seed: 2
batch_size: 4
model: {hidden: 16, attention_hidden: 8, fusion_hidden: 16}
optimizer: {name: adamw, lr: 3.0e-3}
schedule: {steps: 12, log_every: 4, eval_every: 0}
data: {modalities: [rgb, audio, text]}
"""


def test_three_modalities_train_and_test_with_one_missing(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["synth", str(data), "--train", "8", "--test", "3", "--snippets-mean", "24", "--seed", "4",
                 "--modalities", "rgb:12,audio:6,text:4"]) == 0
    # one training video has no text (its subtitles failed, say): zero features + a marker
    vid = (data / "split_train.txt").read_text().split()[0]
    text_file = data / "features" / "train" / "text" / f"{vid}.npy"
    text_file.unlink()
    (text_file.parent / f"{vid}.missing").write_text("")
    recipe = tmp_path / "three.yaml"
    recipe.write_text(RECIPE)
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--data", str(data), "--out", str(run), "--quiet", "--threads", "1"]) == 0
    capsys.readouterr()

    ckpt = load_checkpoint(run / "model.safetensors")
    assert ckpt.meta["spec"]["modality_shapes"] == {"audio": [6], "rgb": [12], "text": [4]}
    encoders = {k.split(".")[1] for k in ckpt.state_dict if k.startswith("encoders.")}
    assert encoders == {"rgb", "audio", "text"}
    assert all(torch.isfinite(v).all() for v in ckpt.state_dict.values() if v.is_floating_point())

    assert main(["test", str(run), "--data", str(data)]) == 0
    predictions = json.loads((run / "predictions_test.json").read_text())["results"]
    assert set(predictions) == set((data / "split_test.txt").read_text().split())
    assert any(predictions.values())

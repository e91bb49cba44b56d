"""Engine: padded batches and masks, checkpoints (safetensors, no pickle). Training: test_engine_training.py."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from tiny_tsl300 import make_videos
from tsl300.engine.batching import collate, crop_video, label_distribution
from tsl300.engine.checkpoint import load_checkpoint, save_checkpoint
from tsl300.errors import CheckpointError
from tsl300.methods.registry import ModelSpec, build_method
from tsl300.recipes import recipe_from_dict

MODALITIES = ["rgb", "logmfcc"]
CLASSES = ("n", "p")
SMALL_MODEL = {"hidden": 32, "attention_hidden": 16, "fusion_hidden": 32}



@pytest.fixture(scope="module")
def videos():
    return make_videos(n_train=12, n_test=4, seed=3, rgb_dim=16, t_range=(24, 48))


def spec_of(videos) -> ModelSpec:
    return ModelSpec({m: tuple(videos[0].features[m].shape[1:]) for m in MODALITIES}, CLASSES)


def flagship_recipe(**over):
    data = {"method": "flagship", "seed": 5, "batch_size": 4, "model": dict(SMALL_MODEL),
            "optimizer": {"name": "adamw", "lr": 3e-3}, "schedule": {"steps": 6, "log_every": 2},
            "data": {"modalities": MODALITIES}}
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe_from_dict(data, "test")


# ---------------------------------------------------------------------------- batching


def test_collate_pads_and_masks(videos):
    batch = collate(videos[:3], MODALITIES, CLASSES)
    lengths = [v.num_snippets for v in videos[:3]]
    assert batch["features"]["rgb"].shape == (3, max(lengths), 16)
    assert batch["features"]["logmfcc"].shape == (3, max(lengths), 32, 60)
    assert batch["mask"].sum(dim=1).tolist() == lengths
    for i, n in enumerate(lengths):
        assert torch.equal(batch["features"]["rgb"][i, :n], torch.from_numpy(videos[i].features["rgb"]))
        assert batch["features"]["rgb"][i, n:].abs().sum() == 0
    counts = np.bincount(videos[0].points[:, 1], minlength=2)
    assert np.allclose(batch["label_distribution"][0].numpy(), counts / counts.sum())
    assert batch["video_labels"][0].tolist() == [float(c > 0) for c in counts]
    assert all(batch["modality_mask"][m].all() for m in MODALITIES)


def test_label_distribution_without_points_is_zero():
    assert label_distribution(np.zeros((0, 2), np.int64), 2).tolist() == [0.0, 0.0]


def test_crop_shifts_and_drops_points(videos):
    video = next(v for v in videos if len(v.points) >= 2)
    start = int(video.points[1, 0])
    cropped = crop_video(video, start, 10)
    assert cropped.num_snippets == 10
    assert cropped.points[0, 0] == 0 and cropped.points[0, 1] == video.points[1, 1]
    assert (cropped.points[:, 0] < 10).all()


def test_padded_batch_equals_single_video_forward(videos):
    """Eval mode: the padded batch gives each video exactly its lone-video outputs."""
    torch.manual_seed(0)
    method = build_method(flagship_recipe(), spec_of(videos)).eval()
    chosen = [videos[0], videos[1], videos[2]]
    chosen[1].missing = ("logmfcc",)  # a video without audio is masked, not an error
    try:
        with torch.no_grad():
            batch = collate(chosen, MODALITIES, CLASSES)
            together = method.scores(method(batch), batch)
            for i, video in enumerate(chosen):
                single = collate([video], MODALITIES, CLASSES)
                alone = method.scores(method(single), single)
                n = video.num_snippets
                assert torch.allclose(together["cas"][i, :n], alone["cas"][0], atol=1e-5)
                assert torch.allclose(together["actionness"][i, :n], alone["actionness"][0], atol=1e-5)
                assert torch.allclose(together["video_scores"][i], alone["video_scores"][0], atol=1e-5)
    finally:
        chosen[1].missing = ()
    assert not batch["modality_mask"]["logmfcc"][1]


def test_missing_modality_changes_only_that_video(videos):
    torch.manual_seed(0)
    method = build_method(flagship_recipe(), spec_of(videos)).eval()
    with torch.no_grad():
        batch = collate(videos[:2], MODALITIES, CLASSES)
        full = method.scores(method(batch), batch)["cas"]
        batch["modality_mask"]["logmfcc"][0] = False
        masked = method.scores(method(batch), batch)["cas"]
    n1 = videos[1].num_snippets
    assert not torch.allclose(full[0], masked[0])
    assert torch.allclose(full[1, :n1], masked[1, :n1])


# ---------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_with_optimizer(tmp_path, videos):
    method = build_method(flagship_recipe(), spec_of(videos))
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    batch = collate(videos[:2], MODALITIES, CLASSES)
    loss, _ = method.compute_loss(method(batch), batch, 0)
    loss.backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ck", method, {"step": 3, "classes": list(CLASSES)}, optimizer)
    assert (tmp_path / "ck.safetensors").exists() and (tmp_path / "ck.optim.safetensors").exists()
    sidecar = json.loads((tmp_path / "ck.json").read_text())
    assert sidecar["step"] == 3 and sidecar["format"] == "tsl300-checkpoint/1" and "tsl300_version" in sidecar
    ckpt = load_checkpoint(tmp_path / "ck.safetensors", with_optimizer=True)
    for key, value in method.state_dict().items():
        assert torch.equal(ckpt.state_dict[key], value)
    restored = torch.optim.AdamW(method.parameters(), lr=1e-3)
    restored.load_state_dict(ckpt.optimizer_state)
    first = next(iter(optimizer.state.values()))
    again = next(iter(restored.state.values()))
    assert torch.equal(first["exp_avg"], again["exp_avg"]) and float(first["step"]) == float(again["step"])


def test_pickle_checkpoint_is_refused(tmp_path, videos):
    method = build_method(flagship_recipe(), spec_of(videos))
    disguised = tmp_path / "model.safetensors"
    torch.save(method.state_dict(), disguised)  # torch.save zip archive named like ours
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(disguised)
    plain = tmp_path / "model_seed_123.pkl"
    plain.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(plain)


def test_non_finite_weights_are_not_saved(tmp_path, videos):
    method = build_method(flagship_recipe(), spec_of(videos))
    with torch.no_grad():
        next(method.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(tmp_path / "bad", method, {})
    assert not (tmp_path / "bad.safetensors").exists()


def test_safetensors_header_length_starting_like_pickle_loads(tmp_path):
    """A header length whose first byte is 0x80 (pickle's magic) is still a safetensors file."""
    from safetensors.torch import save_file

    from tsl300.engine.checkpoint import _load_tensors

    for pad in range(300):
        path = tmp_path / f"w{pad}.safetensors"
        save_file({"w": torch.ones(2)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a 0x80 first byte")
    assert torch.equal(_load_tensors(path)["w"], torch.ones(2))

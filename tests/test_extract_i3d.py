"""i3d_rgb: the PyTorch I3D port's key names, weights from a path or URL+sha256 cache, and
features equal to the network applied to the documented preprocessing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tsl300.errors import CheckpointError
from tsl300.extractors import extract_video, get_extractor
from tsl300.extractors.i3d import centre_crop
from tsl300.extractors.i3d_net import InceptionI3d
from tsl300.extractors.weights import cache_path, resolve_weights, sha256_of
from tsl300.io import FrameBatch, MediaStream, VideoRequest
from tsl300.io.synthetic import write_video

PORT_KEYS = [  # names as in the port's rgb_imagenet.pt
    "Conv3d_1a_7x7.conv3d.weight", "Conv3d_1a_7x7.bn.running_mean", "Conv3d_2c_3x3.conv3d.weight",
    "Mixed_3b.b0.conv3d.weight", "Mixed_3b.b1a.bn.weight", "Mixed_4f.b2b.conv3d.weight",
    "Mixed_5c.b3b.bn.running_var", "logits.conv3d.weight", "logits.conv3d.bias",
]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=400)
    with torch.no_grad():  # non-trivial batch-norm statistics, so loading them matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("w") / "rgb_imagenet.pt"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "v.mp4", 2.5, fps=16, size=(96, 72),
                       colour=lambda t: (int(60 * t), 200 - int(50 * t), 90), audio=False)


def test_state_dict_uses_port_key_names():
    keys = set(InceptionI3d().state_dict())
    assert set(PORT_KEYS) <= keys
    state = InceptionI3d().state_dict()
    shapes = {"Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7), "Conv3d_2c_3x3.conv3d.weight": (192, 64, 3, 3, 3),
              "Mixed_4b.b0.conv3d.weight": (192, 480, 1, 1, 1), "Mixed_5c.b1b.conv3d.weight": (384, 192, 3, 3, 3),
              "logits.conv3d.weight": (400, 1024, 1, 1, 1)}
    assert {k: tuple(state[k].shape) for k in shapes} == shapes


def test_features_equal_network_on_preprocessed_clips(weights, video):
    extractor = get_extractor("i3d_rgb", weights=str(weights), short_side=72, crop=64)
    result = extract_video(video, [extractor])
    rgb = result.features["rgb"]
    assert rgb.shape == (3, 1024) and result.n_frames == 40 and np.isfinite(rgb).all()
    assert result.specs["rgb"].params["weights_sha256"] == sha256_of(weights)

    frames = np.concatenate([e.frames[VideoRequest(short_side=72, interpolation="BICUBIC")]
                             for e in MediaStream(video, video=(VideoRequest(short_side=72, interpolation="BICUBIC"),))
                             if isinstance(e, FrameBatch)])
    frames = np.concatenate([frames, np.zeros((8,) + frames.shape[1:], np.uint8)])   # zero-padded last clip
    clips = centre_crop(frames, 64).reshape(3, 16, 64, 64, 3).astype(np.float32) / 127.5 - 1.0
    model = InceptionI3d()
    model.load_state_dict(torch.load(weights, weights_only=True))
    with torch.no_grad():
        expected = model.eval().features(torch.from_numpy(clips.transpose(0, 4, 1, 2, 3).copy())).numpy()
    np.testing.assert_allclose(rgb, expected, rtol=1e-4, atol=1e-5)


def test_url_weights_come_from_cache_with_checksum(weights, tmp_path, monkeypatch):
    monkeypatch.setenv("TSL300_CACHE", str(tmp_path))
    digest = sha256_of(weights)
    url = "https://example.org/models/rgb_imagenet.pt"
    with pytest.raises(CheckpointError, match="download=True"):
        resolve_weights(url, digest)
    cached = cache_path(url, digest)
    assert cached.parent == tmp_path / "weights"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights.read_bytes())
    assert resolve_weights(url, digest) == cached
    with pytest.raises(CheckpointError, match="does not match"):
        resolve_weights(weights, "0" * 64)


def test_missing_or_wrong_weights_are_clear_errors(tmp_path, video):
    with pytest.raises(CheckpointError, match="needs weights"):
        extract_video(video, [get_extractor("i3d_rgb")])
    bad = tmp_path / "bad.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="key names"):
        extract_video(video, [get_extractor("i3d_rgb", weights=str(bad))])

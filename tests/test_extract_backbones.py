"""torchvision and transformers backbones load through the user's path (weights file /
save_pretrained folder) and give one row per snippet. Models are tiny and random."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tsl300.errors import CheckpointError
from tsl300.extractors import extract_video, get_extractor
from tsl300.io.synthetic import write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("bb") / "v.mp4", 2.0, fps=16, size=(64, 48),
                       colour=lambda t: (200, int(100 * t), 40), tones=[(0.5, 1.5, 300.0)])


def test_torchvision_video_from_local_state_dict(video, tmp_path):
    from torchvision.models import get_model
    torch.manual_seed(0)
    model = get_model("r3d_18", weights=None)
    path = tmp_path / "r3d.pth"
    torch.save(model.state_dict(), path)
    result = extract_video(video, [get_extractor("r3d_18", weights=str(path), short_side=40, crop=32)])
    feats = result.features["r3d_18"]
    assert feats.shape == (2, 512) and np.isfinite(feats).all() and feats.std() > 0
    assert result.specs["r3d_18"].params["weights"].startswith("sha256:")


def test_torchvision_named_weights_need_download_or_cache(video, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="download=True"):
        extract_video(video, [get_extractor("r3d_18", weights="DEFAULT")])


def test_torchvision_resnet_per_frame(video):
    result = extract_video(video, [get_extractor("resnet18", short_side=36, crop=32)])
    assert result.features["resnet18"].shape == (2, 512) and np.isfinite(result.features["resnet18"]).all()


def test_clip_vision_and_videomae_from_saved_folders(video, tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, VideoMAEConfig, VideoMAEModel
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    CLIPVisionModelWithProjection(CLIPVisionConfig(image_size=32, patch_size=8, projection_dim=16, **small)) \
        .save_pretrained(tmp_path / "clip")
    VideoMAEModel(VideoMAEConfig(image_size=32, patch_size=16, num_frames=4, tubelet_size=2, **small)) \
        .save_pretrained(tmp_path / "videomae")
    result = extract_video(video, [get_extractor("clip_vision", model=str(tmp_path / "clip")),
                                   get_extractor("videomae", model=str(tmp_path / "videomae"))])
    assert result.features["clip_vision"].shape == (2, 16)
    assert result.features["videomae"].shape == (2, 32)
    assert all(np.isfinite(a).all() for a in result.features.values())


def test_audio_transformers_from_saved_folders(video, tmp_path):
    from transformers import (ASTConfig, ASTFeatureExtractor, ASTModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor,
                              Wav2Vec2Model)
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    Wav2Vec2Model(Wav2Vec2Config(conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                                 **small)).save_pretrained(tmp_path / "w2v")
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(tmp_path / "w2v")
    ASTModel(ASTConfig(max_length=64, num_mel_bins=16, **small)).save_pretrained(tmp_path / "ast")
    ASTFeatureExtractor(num_mel_bins=16, max_length=64).save_pretrained(tmp_path / "ast")
    result = extract_video(video, [get_extractor("wav2vec2", model=str(tmp_path / "w2v")),
                                   get_extractor("ast", model=str(tmp_path / "ast"))])
    assert result.features["wav2vec2"].shape == (2, 32) and result.features["ast"].shape == (2, 32)
    assert result.specs["wav2vec2"].sample_rate == 16000
    assert all(np.isfinite(a).all() for a in result.features.values())


def test_hub_id_without_cache_is_a_clear_error(video, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match="download=True"):
        extract_video(video, [get_extractor("clip_vision", model="openai/clip-vit-base-patch32")])


def test_clap_from_saved_folder(video, tmp_path):
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel
    audio = dict(spec_size=128, window_size=4, num_mel_bins=64, patch_size=4, patch_stride=(4, 4), hidden_size=16,
                 patch_embeds_hidden_size=8, depths=[1, 1], num_attention_heads=[2, 2], projection_dim=16,
                 enable_fusion=False)
    text = dict(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                projection_dim=16)
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16)).save_pretrained(tmp_path / "clap")
    ClapFeatureExtractor(feature_size=64, sampling_rate=48000, max_length_s=1, hop_length=480, fft_window_size=1024,
                         truncation="rand_trunc").save_pretrained(tmp_path / "clap")
    result = extract_video(video, [get_extractor("clap", model=str(tmp_path / "clap"))])
    assert result.features["clap"].shape == (2, 16) and np.isfinite(result.features["clap"]).all()
    assert result.specs["clap"].sample_rate == 48000

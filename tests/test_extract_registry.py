"""Extractor protocol: spec JSON, registry, snippet pooling, the feature store (no media needed)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tsl300.errors import RecipeError, SpecMismatchError
from tsl300.extractors import (EXTRACTOR_SETS, ExtractorSpec, FeatureStore, FrameExtractor, SnippetPooler,
                               available_extractors, expand_names, extract_video, get_extractor,
                               register_extractor, snippet_count)
from tsl300.extractors.store import merge_json_dict
from tsl300.io import VideoRequest
from tsl300.io.synthetic import write_video


def test_spec_round_trips_through_json(tmp_path):
    spec = get_extractor("logmel_tsl300").spec()
    assert spec.shape == (32, 60) and spec.layout == "flat" and spec.modality == "logmfcc"
    spec.save(tmp_path)
    loaded = ExtractorSpec.load(tmp_path)
    assert loaded == spec
    assert json.loads((tmp_path / "spec.json").read_text())["sample_rate"].startswith("int(fps / 19.9166")


def test_spec_mismatch_names_the_field():
    a = get_extractor("visual_stats").spec()
    b = get_extractor("visual_stats", short_side=64).spec()
    with pytest.raises(SpecMismatchError, match="frame_size"):
        a.check_compatible(b)
    a.check_compatible(get_extractor("visual_stats").spec())


def test_flat_layout_reshapes_to_snippets():
    spec = get_extractor("logmel_tsl300").spec()
    stored = np.arange(70 * 60, dtype=np.float32).reshape(70, 60)
    snippets = spec.as_snippets(stored, 2)
    assert snippets.shape == (2, 32, 60) and snippets[1, 0, 0] == 32 * 60


def test_registry_lists_and_expands():
    names = available_extractors()
    for name in ["visual_stats", "audio_prosody", "logmel_tsl300", "i3d_rgb", "r3d_18", "r2plus1d_18", "s3d",
                 "mvit_v2_s", "resnet18", "clip_vision", "videomae", "wav2vec2", "ast", "clap"]:
        assert name in names
    assert expand_names("default,logmel_tsl300") == ["visual_stats", "audio_prosody", "logmel_tsl300"]
    assert EXTRACTOR_SETS["tsl300"] == ("i3d_rgb", "logmel_tsl300")
    with pytest.raises(RecipeError, match="visual_stats"):
        get_extractor("visual_stat")


def test_snippet_rule():
    assert [snippet_count(n) for n in (0, 1, 16, 17, 250)] == [0, 1, 1, 2, 16]


def test_pooler_matches_naive_reduction_across_pushes():
    rng = np.random.default_rng(0)
    idx = np.sort(rng.integers(0, 9, 200))
    val = rng.normal(size=(200, 3))
    pooler = SnippetPooler(("mean", "std", "max"))
    for cut in np.array_split(np.arange(200), 7):
        pooler.push(idx[cut], val[cut])
    out = pooler.result(10, 3)
    for s in range(10):
        rows = val[idx == s]
        expect = np.zeros(9) if not len(rows) else np.concatenate([rows.mean(0), rows.std(0), rows.max(0)])
        np.testing.assert_allclose(out[s], expect, rtol=1e-5, atol=1e-6)


def test_store_refuses_to_mix_specs(tmp_path):
    store = FeatureStore(tmp_path, "train")
    store.prepare([get_extractor("visual_stats").spec()])
    store.prepare([get_extractor("visual_stats").spec()])
    with pytest.raises(SpecMismatchError, match="another output folder"):
        store.prepare([get_extractor("visual_stats", short_side=32).spec()])


def test_store_writes_layout_marker_and_dicts(tmp_path):
    store = FeatureStore(tmp_path, "test")
    store.write_video("v1", {"rgb": np.ones((3, 4)), "logmfcc": np.zeros((96, 60))}, ("logmfcc",), 25.0, 1.9)
    assert np.load(tmp_path / "features/test/rgb/v1.npy").dtype == np.float32
    assert (tmp_path / "features/test/logmfcc/v1.missing").read_text() == ""
    assert not (tmp_path / "features/test/rgb/v1.missing").exists()
    assert store.is_done("v1", ["rgb", "logmfcc"]) and not store.is_done("v2", ["rgb"])
    store.write_video("v1", {"logmfcc": np.ones((96, 60))}, (), 25.0, 1.9)     # audio came back
    assert not (tmp_path / "features/test/logmfcc/v1.missing").exists()
    merge_json_dict(tmp_path / "fps_dict.json", {"v2": 30.0})
    assert json.loads((tmp_path / "fps_dict.json").read_text()) == {"v1": 25.0, "v2": 30.0}
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_new_modality_is_one_registered_class(tmp_path):
    @register_extractor("test_mean_red")
    class MeanRed(FrameExtractor):
        modality = "mean_red"
        frame_dim = 1

        def video_request(self):
            return VideoRequest(width=8, height=8)

        def frame_features(self, frames, previous):
            return frames[..., 0].mean(axis=(1, 2))[:, None] / 255.0

        def spec(self):
            return ExtractorSpec(name=self.name, version="1", modality=self.modality, input="video", shape=(1,))

    path = write_video(tmp_path / "v.mp4", 2.0, fps=16, colour=lambda t: (255, 0, 0) if t >= 1.0 else (0, 0, 0),
                       audio=False)
    result = extract_video(path, ["test_mean_red", "audio_prosody"])
    assert result.n_snippets == 2 and result.missing == ("audio_prosody",)
    np.testing.assert_allclose(result.features["mean_red"][:, 0], [0.0, 1.0], atol=0.05)
    np.testing.assert_array_equal(result.features["audio_prosody"], 0.0)

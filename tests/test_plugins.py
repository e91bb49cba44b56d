"""Installed plugins add extractors and methods through entry points (no edit of tsl300 itself).

The test writes a real (tiny) installed distribution: a module plus a ``.dist-info`` folder with
``entry_points.txt``, on ``sys.path``, which is exactly what ``pip install`` leaves behind.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from tsl300.extractors import available_extractors, extract_video, get_extractor
from tsl300.extractors.registry import _EXTRACTORS
from tsl300.io.synthetic import write_video
from tsl300.methods.registry import _METHODS, available_methods, build_method, get_method, ModelSpec
from tsl300.recipes import load_recipe

PLUGIN = '''
import numpy as np
from tsl300.extractors import ExtractorSpec, FrameExtractor
from tsl300.io import VideoRequest
from tsl300.methods.flagship import FlagshipMethod


class MeanGreen(FrameExtractor):
    """Mean green level of each frame, per snippet."""
    modality = "mean_green"
    frame_dim = 1

    def video_request(self):
        return VideoRequest(width=8, height=8)

    def frame_features(self, frames, previous):
        return frames[..., 1].mean(axis=(1, 2))[:, None] / 255.0

    def spec(self):
        return ExtractorSpec(name=self.name, version="1", modality=self.modality, input="video", shape=(1,))


class DemoFlagship(FlagshipMethod):
    """The flagship under another name: a method shipped by a plugin."""
'''

ENTRY_POINTS = '''
[tsl300.extractors]
demo_mean_green = tsl300_demo_plugin:MeanGreen

[tsl300.methods]
demo_flagship = tsl300_demo_plugin:DemoFlagship
demo_broken = tsl300_demo_plugin_missing:Nothing
'''


@pytest.fixture()
def installed_plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "tsl300_demo_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "tsl300_demo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tsl300-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    for reg in (_EXTRACTORS, _METHODS):
        reg.discover()  # the built-ins, before the plugin is on the path
    before = {reg: dict(reg.classes) for reg in (_EXTRACTORS, _METHODS)}
    monkeypatch.syspath_prepend(str(site))
    yield site
    for reg, classes in before.items():  # leave the registries as the other tests know them
        reg.classes.clear()
        reg.classes.update(classes)


def test_plugin_extractor_is_found_and_runs(installed_plugin, tmp_path):
    with pytest.warns(RuntimeWarning, match="'demo_broken' .* failed to load"):
        _METHODS.discover(refresh=True)
    _EXTRACTORS.discover(refresh=True)
    assert "demo_mean_green" in available_extractors()
    extractor = get_extractor("demo_mean_green")
    assert extractor.spec().name == "demo_mean_green"
    path = write_video(tmp_path / "v.mp4", 2.0, fps=16, colour=lambda t: (0, 255, 0) if t >= 1.0 else (0, 0, 0),
                       audio=False)
    result = extract_video(path, ["demo_mean_green"])
    np.testing.assert_allclose(result.features["mean_green"][:, 0], [0.0, 1.0], atol=0.05)


def test_plugin_method_builds_from_a_recipe_and_a_broken_plugin_is_left_out(installed_plugin, tmp_path):
    with pytest.warns(RuntimeWarning, match="demo_broken"):
        _METHODS.discover(refresh=True)
    assert "demo_flagship" in available_methods() and "demo_broken" not in available_methods()
    assert get_method("demo_flagship").__name__ == "DemoFlagship"
    recipe_file = tmp_path / "demo.yaml"
    recipe_file.write_text("inherit: " + str(_flagship_recipe()) + "\nmethod: demo_flagship\nname: demo\n")
    recipe = load_recipe(recipe_file)
    method = build_method(recipe, ModelSpec({"rgb": (16,), "logmfcc": (32, 60)}))
    assert type(method).__name__ == "DemoFlagship"


def _flagship_recipe():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "recipes" / "tsl300" / "flagship.yaml"

"""One method contract and one loader.

Bug 1 of issue 12: ``tsl300.load_model(RUN)`` failed for every TSL-Net run ("unknown key
'model.visual'") because the API built methods one way and the engine another. Now the API,
``tsl300 test`` and these tests load through :func:`tsl300.engine.loader.load_trained`, and every
registered method is built by the same ``cls(ModelConfig, LossConfig, spec)``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import tsl300
from tsl300.cli import main
from tsl300.data.dataset import load_dataset
from tsl300.engine.loader import load_trained
from tsl300.methods.base import Method
from tsl300.methods.registry import available_methods, get_method, register_method

SMALL_TSL_NET = ["--set", "model.audio_dim=8", "--set", "model.visual_aligned_dim=8", "--set", "model.fused_dim=16",
                 "--set", "model.reverse_layers=2"]


@pytest.fixture(scope="module")
def tsl_net_run(tmp_path_factory):
    """The issue's repro: synthetic data, one training step of the faithful TSL-Net recipe."""
    root = tmp_path_factory.mktemp("tslnet")
    data, run = root / "D", root / "R"
    assert main(["synth", str(data), "--train", "4", "--test", "2", "--snippets-mean", "40"]) == 0
    assert main(["train", "recipes/tsl_net/tsl_net.yaml", "--data", str(data), "--out", str(run),
                 "--set", "schedule.steps=1", "--set", "data.max_snippets=32", "--set", "batch_size=2",
                 *SMALL_TSL_NET, "--no-test", "--quiet", "--device", "cpu"]) == 0
    return data, run


def test_load_model_loads_a_tsl_net_run_and_localizes(tsl_net_run):
    data, run = tsl_net_run
    model = tsl300.load_model(run, device="cpu")
    assert model.meta["method"] == "tsl_net" and type(model.method).__name__ == "TSLNetMethod"
    video = next(iter(load_dataset(data, "test", modalities=["rgb", "logmfcc"], points="none")))
    result = model.localize_features(video, all_proposals=True)
    assert result.scores.shape == (video.num_snippets, 2)
    assert np.isfinite(result.scores).all() and (result.scores >= 0).all() and (result.scores <= 1).all()
    assert result.segments and all(0 <= s.start < s.end <= result.metadata.duration for s in result.segments)


def test_api_and_test_command_load_the_same_model(tsl_net_run):
    """Same weights, same scores: the API's model is the one ``tsl300 test`` evaluates."""
    data, run = tsl_net_run
    trained = load_trained(run)
    api = tsl300.load_model(run, device="cpu")
    a, b = trained.method.state_dict(), api.method.state_dict()
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    video = next(iter(load_dataset(data, "test", modalities=["rgb", "logmfcc"], points="none")))
    from tsl300.engine.batching import collate

    batch = collate([video], ["rgb", "logmfcc"], ("n", "p"))
    with torch.no_grad():
        cas = trained.method.scores(trained.method(batch), batch)["cas"][0].numpy()
    np.testing.assert_allclose(api.localize_features(video).scores, cas, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["backtal", "case", "co2net", "flagship", "lacp", "refineloc", "sfnet", "tsl_net"])
def test_every_method_has_the_one_contract(name):
    cls = get_method(name)
    assert issubclass(cls, Method) and cls.name == name
    model, loss = cls.ModelConfig, cls.LossConfig
    assert dataclasses.is_dataclass(model) and dataclasses.is_dataclass(loss)
    prefix = model.__name__[:-len("Model")]
    assert model.__name__.endswith("Model") and loss.__name__ == prefix + "Loss", (model, loss)
    assert model.__module__ == loss.__module__ == cls.__module__


def test_built_in_methods_are_all_listed():
    assert {"backtal", "case", "co2net", "flagship", "lacp", "refineloc", "sfnet", "tsl_net"} <= set(available_methods())


def test_a_class_that_breaks_the_contract_is_refused_at_registration():
    class DictConfig(Method):
        ModelConfig = dict  # the old second path: one dict of options

    class NotAMethod:
        pass

    with pytest.raises(TypeError, match="ModelConfig must be a dataclass"):
        register_method("dict_config_demo")(DictConfig)
    with pytest.raises(TypeError, match="not a tsl300.methods.base.Method subclass"):
        register_method("not_a_method_demo")(NotAMethod)
    assert not {"dict_config_demo", "not_a_method_demo"} & set(available_methods())


class _Recorder(Method):
    """Records the mode and grad state of each forward."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.seen = []

    def forward(self, batch):
        self.seen.append((self.training, torch.is_grad_enabled(), tuple(batch["vids"])))
        return {"x": self.weight * batch["features"]["rgb"]}


def test_the_hook_context_runs_one_eval_pass_and_gives_the_mode_back(tmp_path):
    from tiny_tsl300 import make_videos
    from tsl300.engine.trainer import Trainer
    from tsl300.methods.base import TrainingContext
    from tsl300.methods.registry import ModelSpec
    from tsl300.recipes import recipe_from_dict

    videos = make_videos(n_train=5, n_test=0, seed=0, rgb_dim=4, t_range=(5, 12))
    recipe = recipe_from_dict({"method": "flagship", "batch_size": 2, "data": {"modalities": ["rgb"]},
                               "model": {"hidden": 8, "attention_hidden": 4, "fusion_hidden": 8}})
    trainer = Trainer(recipe, videos, ModelSpec({"rgb": (4,)}), tmp_path, progress=False, tensorboard=False)
    recorder = _Recorder().train()
    trainer.method = recorder
    context = trainer.hook_context()
    assert isinstance(context, TrainingContext) and context.total_steps == recipe.schedule.steps
    assert not hasattr(context, "trainer") and list(context.videos) == list(trainer.train_videos)
    groups = [[v.vid for v in group] for group, _, _ in context.predict(context.videos)]
    assert sorted(sum(groups, [])) == sorted(v.vid for v in videos) and max(map(len, groups)) == 2
    assert all(not training and not grad for training, grad, _ in recorder.seen) and recorder.training
    trainer.optimizer.state[recorder.weight] = {"step": torch.tensor(1.0)}
    context.reset_optimizer()
    assert len(trainer.optimizer.state) == 0
